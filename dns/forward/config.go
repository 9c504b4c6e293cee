package forward

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Resolver is what the forwarder asks; *net.Resolver implements it.
type Resolver interface {
	// LookupNetIP looks up host's addresses; network is "ip4" or "ip6".
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	// LookupAddr looks up the names of addr.
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Defaults of Config.
const (
	DefaultMaxInFlight = 64
	DefaultTimeout     = 5 * time.Second
	DefaultTTL         = 30 // seconds
	DefaultRate        = 50 // queries per second per source
	DefaultBurst       = 100
	DefaultMaxSources  = 4096
	DefaultMaxTCPConns = 16
	DefaultIdleTimeout = 10 * time.Second
)

// Config configures a Forwarder. Addr and Resolver are required.
type Config struct {
	// Addr is the address and port to serve on; the stack must own the
	// address (10.0.2.3:53: add 10.0.2.3 to the guests' NIC).
	Addr netip.AddrPort
	// Resolver answers the queries: net.DefaultResolver for the
	// gateway's namespace.
	Resolver Resolver
	// Hosts are names the forwarder answers itself, for A, AAAA and PTR:
	// the gateway's own addresses ("gateway." → 10.0.2.2). Names are
	// matched without case and without the trailing dot.
	Hosts map[string][]netip.Addr
	// MaxInFlight bounds the lookups running at once (DefaultMaxInFlight).
	MaxInFlight int
	// Timeout bounds one lookup (DefaultTimeout).
	Timeout time.Duration
	// TTL is the TTL of the records sent, in seconds (DefaultTTL).
	TTL uint32
	// Rate (queries per second) and Burst limit each source address;
	// MaxSources bounds their table. Zero means the default, a negative
	// Rate no limit.
	Rate       float64
	Burst      int
	MaxSources int
	// MaxTCPConns bounds the TCP connections served at once
	// (DefaultMaxTCPConns); IdleTimeout closes one that sends nothing
	// (DefaultIdleTimeout). A negative MaxTCPConns serves UDP only.
	MaxTCPConns int
	IdleTimeout time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Resolver == nil {
		return c, errors.New("dnsfwd: no resolver; set Config.Resolver (net.DefaultResolver for the host's)")
	}
	if !c.Addr.IsValid() || c.Addr.Port() == 0 {
		return c, fmt.Errorf("dnsfwd: address %v has no port; set Config.Addr, e.g. 10.0.2.3:53", c.Addr)
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.MaxSources <= 0 {
		c.MaxSources = DefaultMaxSources
	}
	if c.MaxTCPConns == 0 {
		c.MaxTCPConns = DefaultMaxTCPConns
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c, nil
}
