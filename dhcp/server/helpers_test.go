package server

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/stack"
)

var (
	subnet  = netip.MustParsePrefix("10.0.2.0/24")
	router  = netip.MustParseAddr("10.0.2.2")
	dnsAddr = netip.MustParseAddr("10.0.2.3")
	first   = netip.MustParseAddr("10.0.2.15")
	second  = netip.MustParseAddr("10.0.2.16")
	last    = netip.MustParseAddr("10.0.2.20")
	other   = netip.MustParseAddr("10.0.2.99") // another server
	bcast   = netip.MustParseAddr("255.255.255.255")
	t0      = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	macA    = stack.MAC{0x52, 0x54, 0, 0, 0, 0xa}
	macB    = stack.MAC{0x52, 0x54, 0, 0, 0, 0xb}
)

// testConfig is slirp's plan with a range of six addresses (.15-.20).
func testConfig() Config {
	return Config{Subnet: subnet, Router: router, DNS: []netip.Addr{dnsAddr}, RangeStart: first, RangeEnd: last}
}

func newCore(t *testing.T, mod func(*Config)) *Core {
	t.Helper()
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewCore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// msg builds a client message of type typ from mac, then applies mods.
func msg(typ dhcp.MessageType, mac stack.MAC, mods ...func(*dhcp.Fields)) []byte {
	f := dhcp.Fields{Op: dhcp.OpRequest, XID: 0x1234, CHAddr: mac, MessageType: typ}
	for _, m := range mods {
		m(&f)
	}
	return f.Marshal()
}

func withServer(a netip.Addr) func(*dhcp.Fields) { return func(f *dhcp.Fields) { f.ServerID = a } }
func withRequested(a netip.Addr) func(*dhcp.Fields) {
	return func(f *dhcp.Fields) { f.RequestedIP = a }
}
func withCIAddr(a netip.Addr) func(*dhcp.Fields) { return func(f *dhcp.Fields) { f.CIAddr = a } }
func withBroadcast(f *dhcp.Fields)               { f.Flags = dhcp.FlagBroadcast }

// reply decodes out's reply, failing if there is none or it is not of
// type want.
func reply(t *testing.T, out Output, want dhcp.MessageType) dhcp.Fields {
	t.Helper()
	if out.Reply == nil {
		t.Fatalf("no reply (drop %q), want %v", out.Drop, want)
	}
	m := dhcp.Message(out.Reply)
	if err := m.Validate(); err != nil {
		t.Fatalf("reply does not validate: %v", err)
	}
	f := m.Fields()
	if f.MessageType != want || out.Type != want {
		t.Fatalf("reply is %v (out.Type %v), want %v", f.MessageType, out.Type, want)
	}
	if f.Op != dhcp.OpReply || f.ServerID != router {
		t.Fatalf("reply op %d server id %v, want 2 and %v", f.Op, f.ServerID, router)
	}
	return f
}

// lease binds an address for mac through DISCOVER and REQUEST at now
// and returns it.
func lease(t *testing.T, c *Core, now time.Time, mac stack.MAC) netip.Addr {
	t.Helper()
	off := reply(t, c.Handle(now, msg(dhcp.Discover, mac)), dhcp.Offer)
	ack := reply(t, c.Handle(now, msg(dhcp.Request, mac, withServer(router), withRequested(off.YIAddr))), dhcp.Ack)
	if ack.YIAddr != off.YIAddr {
		t.Fatalf("ACK for %v, offered %v", ack.YIAddr, off.YIAddr)
	}
	return ack.YIAddr
}

// stateOf returns the table's entry for a.
func stateOf(c *Core, now time.Time, a netip.Addr) (Lease, bool) {
	for _, l := range c.Leases(now) {
		if l.Addr == a {
			return l, true
		}
	}
	return Lease{}, false
}

func netipPrefix(s string) netip.Prefix {
	p, _ := netip.ParsePrefix(s)
	return p
}

func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
