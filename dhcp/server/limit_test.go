package server

import (
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/stack"
)

func randMAC(i int) stack.MAC {
	return stack.MAC{2, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// A DISCOVER flood from random MACs cannot grow the lease table past the
// pool, and unanswered offers are reclaimed after OfferHold.
func TestDiscoverFloodBoundedByPool(t *testing.T) {
	c := newCore(t, func(c *Config) { c.ClientRate, c.GlobalRate = -1, -1 })
	pool := 6
	offers, exhausted := 0, 0
	for i := range 10000 {
		out := c.Handle(t0, msg(dhcp.Discover, randMAC(i)))
		switch {
		case out.Reply != nil:
			offers++
		case out.Drop == DropPoolExhausted:
			exhausted++
		}
	}
	if offers != pool || exhausted != 10000-pool {
		t.Fatalf("offers %d exhausted %d, want %d and %d", offers, exhausted, pool, 10000-pool)
	}
	if n := len(c.Leases(t0)); n != pool {
		t.Fatalf("lease table has %d entries, pool is %d", n, pool)
	}
	if n := len(c.pool.byKey); n > pool {
		t.Fatalf("client index has %d entries, pool is %d", n, pool)
	}
	// After the hold, a real client gets an address.
	reply(t, c.Handle(t0.Add(DefaultOfferHold), msg(dhcp.Discover, macA)), dhcp.Offer)
}

// One client gets ClientBurst answers at once, then ClientRate per second.
func TestClientRateLimit(t *testing.T) {
	c := newCore(t, nil)
	for i := range DefaultClientBurst {
		if out := c.Handle(t0, msg(dhcp.Discover, macA)); out.Reply == nil {
			t.Fatalf("message %d of the burst dropped: %q", i, out.Drop)
		}
	}
	if out := c.Handle(t0, msg(dhcp.Discover, macA)); out.Drop != DropRateClient {
		t.Fatalf("message past the burst: drop %q, want %q", out.Drop, DropRateClient)
	}
	// Another client is not affected.
	reply(t, c.Handle(t0, msg(dhcp.Discover, macB)), dhcp.Offer)
	// Half a second later the bucket has one token (2/s).
	reply(t, c.Handle(t0.Add(500*time.Millisecond), msg(dhcp.Discover, macA)), dhcp.Offer)
}

// The global bucket bounds everything the server handles, and the table
// of per-client buckets stays within MaxClients.
func TestGlobalRateLimitAndClientTableBound(t *testing.T) {
	c := newCore(t, func(c *Config) { c.GlobalBurst, c.GlobalRate, c.MaxClients = 50, 10, 16 })
	handled, limited := 0, 0
	for i := range 1000 {
		out := c.Handle(t0, msg(dhcp.Inform, randMAC(i), withCIAddr(first)))
		if out.Drop == DropRateGlobal {
			limited++
		} else {
			handled++
		}
		if n := len(c.clients.m); n > 16 {
			t.Fatalf("per-client table has %d entries, max 16", n)
		}
	}
	if handled != 50 || limited != 950 {
		t.Fatalf("handled %d limited %d, want 50 and 950", handled, limited)
	}
	if out := c.Handle(t0.Add(time.Second), msg(dhcp.Inform, macA, withCIAddr(first))); out.Reply == nil {
		t.Fatalf("after a second of refill: drop %q", out.Drop)
	}
}

// Operator mistakes get one line that says what to set.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no subnet", func(c *Config) { c.Subnet = netipPrefix("") }, "set Config.Subnet"},
		{"IPv6 subnet", func(c *Config) { c.Subnet = netipPrefix("fd00::/64") }, "set Config.Subnet"},
		{"router outside", func(c *Config) { c.Router = other.Next().Next(); c.Subnet = netipPrefix("10.0.2.0/26") }, "set Config.Router"},
		{"range outside", func(c *Config) { c.RangeStart = netipAddr("10.0.3.1") }, "set Config.RangeStart"},
		{"range reversed", func(c *Config) { c.RangeStart, c.RangeEnd = last, first }, "set Config.RangeStart"},
		{"IPv6 DNS", func(c *Config) { c.DNS = append(c.DNS, netipAddr("fd00::3")) }, "not IPv4"},
		{"range too big", func(c *Config) {
			c.Subnet = netipPrefix("10.0.0.0/8")
			c.RangeStart = netipAddr("10.0.0.10")
			c.RangeEnd = netipAddr("10.255.0.0")
		}, "narrow it"},
		{"lease too short", func(c *Config) { c.LeaseTime = time.Second }, "lease time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.mod(&cfg)
			_, err := NewCore(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line with %q", err, tc.want)
			}
		})
	}
}
