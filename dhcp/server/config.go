package server

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Defaults of Config.
const (
	DefaultLeaseTime   = time.Hour
	DefaultOfferHold   = 30 * time.Second
	DefaultDeclineHold = 10 * time.Minute
	// DefaultClientRate and DefaultClientBurst bound the messages one
	// client (by hardware address) may have answered: a burst of 8, then
	// 2 per second, several times what a client retransmitting by RFC
	// 2131 4.1 (4 s, 8 s, ...) sends.
	DefaultClientRate  = 2
	DefaultClientBurst = 8
	// DefaultGlobalRate and DefaultGlobalBurst bound the messages the
	// whole server handles: 200 per second after a burst of 400.
	DefaultGlobalRate  = 200
	DefaultGlobalBurst = 400
	// DefaultMaxClients bounds the per-client rate table.
	DefaultMaxClients = 4096
	// MaxPool is the largest range a server leases from.
	MaxPool = 1 << 16
)

// Config configures a server. Subnet, Router and RangeStart are required;
// the rest have defaults.
type Config struct {
	// Subnet is the guests' subnet, 10.0.2.0/24; its length is the
	// subnet mask handed out.
	Subnet netip.Prefix
	// Router is the default gateway handed out (option 3). It is also
	// the server identifier unless ServerID is set, and the NIC must own
	// the server identifier.
	Router netip.Addr
	// ServerID is the server identifier (option 54) and the source of
	// replies; zero means Router.
	ServerID netip.Addr
	// DNS are the name servers handed out (option 6).
	DNS []netip.Addr
	// Domain, when set, is the DNS domain handed out (option 15).
	Domain string
	// RangeStart and RangeEnd bound the addresses leased, both included.
	// A zero RangeEnd means the last host address of Subnet. Addresses of
	// the range that are the router, the server, a DNS server, the
	// network or the broadcast address are skipped.
	RangeStart, RangeEnd netip.Addr
	// LeaseTime is the lease handed out (DefaultLeaseTime); T1 and T2 are
	// half and seven eighths of it (RFC 2131 4.4.5).
	LeaseTime time.Duration
	// OfferHold is how long an offered address stays reserved for the
	// client it was offered to (DefaultOfferHold).
	OfferHold time.Duration
	// DeclineHold is how long an address a client declined (someone
	// else answers ARP for it) is kept out of the pool
	// (DefaultDeclineHold).
	DeclineHold time.Duration
	// ClientRate (messages per second) and ClientBurst limit each client;
	// GlobalRate and GlobalBurst the whole server; MaxClients bounds the
	// table of per-client limits. Zero means the default; a negative rate
	// disables that limit.
	ClientRate, GlobalRate   float64
	ClientBurst, GlobalBurst int
	MaxClients               int
}

// withDefaults returns c with defaults filled in and checks it.
func (c Config) withDefaults() (Config, error) {
	if !c.Subnet.IsValid() || !c.Subnet.Addr().Is4() || c.Subnet.Bits() > 30 {
		return c, fmt.Errorf("dhcpd: subnet %v is not an IPv4 prefix of at most /30; set Config.Subnet, e.g. 10.0.2.0/24", c.Subnet)
	}
	c.Subnet = c.Subnet.Masked()
	if !c.Router.Is4() || !c.Subnet.Contains(c.Router) {
		return c, fmt.Errorf("dhcpd: router %v is not in subnet %v; set Config.Router to the gateway's address, e.g. 10.0.2.2", c.Router, c.Subnet)
	}
	if !c.ServerID.IsValid() {
		c.ServerID = c.Router
	}
	if !c.ServerID.Is4() {
		return c, fmt.Errorf("dhcpd: server identifier %v is not IPv4", c.ServerID)
	}
	for _, d := range c.DNS {
		if !d.Is4() {
			return c, fmt.Errorf("dhcpd: DNS server %v is not IPv4 (option 6 carries IPv4 addresses only)", d)
		}
	}
	if !c.RangeEnd.IsValid() {
		c.RangeEnd = lastHost(c.Subnet)
	}
	if !c.Subnet.Contains(c.RangeStart) || !c.Subnet.Contains(c.RangeEnd) || c.RangeEnd.Less(c.RangeStart) {
		return c, fmt.Errorf("dhcpd: range %v-%v is not inside %v; set Config.RangeStart (and RangeEnd) to addresses of the subnet, e.g. 10.0.2.15", c.RangeStart, c.RangeEnd, c.Subnet)
	}
	if n := u32(c.RangeEnd) - u32(c.RangeStart) + 1; n > MaxPool {
		return c, fmt.Errorf("dhcpd: range %v-%v holds %d addresses, more than %d; narrow it", c.RangeStart, c.RangeEnd, n, MaxPool)
	}
	if c.LeaseTime <= 0 {
		c.LeaseTime = DefaultLeaseTime
	}
	if c.LeaseTime < 10*time.Second {
		return c, errors.New("dhcpd: lease time under 10 s; clients would spend their time renewing")
	}
	if c.OfferHold <= 0 {
		c.OfferHold = DefaultOfferHold
	}
	if c.DeclineHold <= 0 {
		c.DeclineHold = DefaultDeclineHold
	}
	if c.ClientRate == 0 {
		c.ClientRate = DefaultClientRate
	}
	if c.ClientBurst <= 0 {
		c.ClientBurst = DefaultClientBurst
	}
	if c.GlobalRate == 0 {
		c.GlobalRate = DefaultGlobalRate
	}
	if c.GlobalBurst <= 0 {
		c.GlobalBurst = DefaultGlobalBurst
	}
	if c.MaxClients <= 0 {
		c.MaxClients = DefaultMaxClients
	}
	return c, nil
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addrOf(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// lastHost is the address before p's broadcast address.
func lastHost(p netip.Prefix) netip.Addr {
	return addrOf(u32(p.Addr()) | (1<<(32-p.Bits()) - 1) - 1)
}

// broadcast is p's directed broadcast address.
func broadcast(p netip.Prefix) netip.Addr {
	return addrOf(u32(p.Addr()) | (1<<(32-p.Bits()) - 1))
}
