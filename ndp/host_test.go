package ndp_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

var (
	ourEUI64LL = netip.MustParseAddr("fe80::ff:fe00:2")
	slaacPfx   = netip.MustParsePrefix("fd00:1::/64")
	slaacAddr  = netip.MustParseAddr("fd00:1::ff:fe00:2")
	dnsServer  = netip.MustParseAddr("fd00::53")
)

// ra delivers a router advertisement from src (at peerMAC).
func (f *fixture) ra(src netip.Addr, m ndp.RouterAdvertisement) {
	if m.SourceLinkAddr.IsZero() {
		m.SourceLinkAddr = peerMAC
	}
	f.deliverMsg(encode(&m), src, allNodes, 255, peerMAC)
}

func (f *fixture) hasRoute(dst netip.Prefix, gw netip.Addr) bool {
	return slices.ContainsFunc(f.s.Routes(), func(r stack.RouteEntry) bool { return r.Dst == dst && r.Gateway == gw })
}

// autoconfFixture is a bare fixture after Autoconfigure and its link-local
// DAD, with the frames taken.
func autoconfFixture(t *testing.T, opts ndp.Options) *fixture {
	t.Helper()
	f := newBareFixture(t, opts)
	if err := f.ndp.Autoconfigure(f.nic); err != nil {
		t.Fatal(err)
	}
	msgs := f.takeMsgs()
	if len(msgs) != 1 || msgs[0].msg.Target() != ourEUI64LL || msgs[0].src != netip.IPv6Unspecified() {
		t.Fatalf("link-local DAD: %+v", msgs)
	}
	f.clk.Advance(ndp.DefaultRetransTimer)
	if !f.nic.HasAddress(ourEUI64LL) {
		t.Fatal("link-local address not added after DAD")
	}
	f.link.Take() // its unsolicited NA
	return f
}

// TestRouterSolicitation_RFC4861_6_3_7: after the link-local address, up to
// three RS, 4s apart, from it with our SLLAO to ff02::2; an RA stops them.
func TestRouterSolicitation_RFC4861_6_3_7(t *testing.T) {
	f := autoconfFixture(t, ndp.Options{})
	var rs []sent
	for range 5 {
		f.clk.Advance(ndp.DefaultRSInterval)
		rs = append(rs, f.takeMsgs()...)
	}
	if len(rs) != 3 {
		t.Fatalf("sent %d RS, want 3", len(rs))
	}
	for _, m := range rs {
		if m.msg.Type() != ndp.TypeRouterSolicitation || m.src != ourEUI64LL || m.dst != netip.MustParseAddr("ff02::2") ||
			m.msg.RouterSolicitation().SourceLinkAddr != ourMAC {
			t.Fatalf("RS %+v", m)
		}
	}

	g := autoconfFixture(t, ndp.Options{})
	g.clk.Advance(time.Second) // the first RS
	g.ra(peerLL, ndp.RouterAdvertisement{RouterLifetime: 1800})
	g.link.Take()
	g.clk.Advance(time.Minute)
	if n := g.counter("ndp.tx.rs"); n != 1 {
		t.Fatalf("sent %d RS despite an RA, want 1", n)
	}
}

// TestRAConfiguresHost_RFC4862: an RA gives a default route, an on-link
// prefix, a SLAAC address after DAD, DNS servers, the link MTU; each goes
// when its lifetime ends.
func TestRAConfiguresHost_RFC4862(t *testing.T) {
	f := autoconfFixture(t, ndp.Options{})
	f.ra(peerLL, ndp.RouterAdvertisement{
		CurHopLimit: 63, RouterLifetime: 1800, MTU: 1400,
		Prefixes: []ndp.PrefixInfo{{Prefix: slaacPfx, OnLink: true, Autonomous: true, ValidLifetime: 3600, PreferredLifetime: 1800}},
		DNS:      []ndp.RDNSS{{Lifetime: 600, Servers: []netip.Addr{dnsServer}}},
	})
	if !f.hasRoute(netip.MustParsePrefix("::/0"), peerLL) {
		t.Fatalf("no default route via %v: %v", peerLL, f.s.Routes())
	}
	if !f.hasRoute(slaacPfx, netip.Addr{}) {
		t.Fatalf("no on-link route: %v", f.s.Routes())
	}
	if got := f.ndp.DNSServers(); !slices.Equal(got, []netip.Addr{dnsServer}) {
		t.Fatalf("DNSServers %v", got)
	}
	if f.ndp.LinkMTU(f.nic) != 1400 || f.ndp.HopLimit(f.nic) != 63 {
		t.Fatalf("LinkMTU %d HopLimit %d", f.ndp.LinkMTU(f.nic), f.ndp.HopLimit(f.nic))
	}
	if e, ok := f.entry(peerLL); !ok || !e.Router || e.MAC != peerMAC {
		t.Fatalf("router neighbour %+v", e)
	}
	var dad []sent
	for _, m := range f.takeMsgs() {
		if m.msg.Type() == ndp.TypeNeighborSolicitation && m.src.IsUnspecified() {
			dad = append(dad, m)
		}
	}
	if len(dad) != 1 || dad[0].msg.Target() != slaacAddr {
		t.Fatalf("SLAAC DAD %+v, want one probe for %v", dad, slaacAddr)
	}
	if f.nic.HasAddress(slaacAddr) {
		t.Fatal("address added before DAD finished")
	}
	f.clk.Advance(ndp.DefaultRetransTimer)
	if !f.nic.HasAddress(slaacAddr) || f.counter("ndp.slaac.added") != 1 {
		t.Fatalf("SLAAC address not added: %v", f.nic.Addresses())
	}
	if !f.hasRoute(slaacPfx, netip.Addr{}) {
		t.Fatalf("no prefix route with the address: %v", f.s.Routes())
	}
	f.clk.Advance(600 * time.Second)
	if got := f.ndp.DNSServers(); len(got) != 0 {
		t.Fatalf("DNS server outlived its lifetime: %v", got)
	}
	f.clk.Advance(1200 * time.Second)
	if f.hasRoute(netip.MustParsePrefix("::/0"), peerLL) || len(f.ndp.Routers()) != 0 {
		t.Fatal("default router outlived its lifetime")
	}
	f.clk.Advance(1800 * time.Second)
	if f.nic.HasAddress(slaacAddr) || len(f.ndp.Prefixes()) != 0 {
		t.Fatalf("SLAAC address outlived its valid lifetime: %v", f.nic.Addresses())
	}
	f.link.Take()
}

// TestRouterLifetimeZero_RFC4861_6_3_4: an RA with router lifetime 0
// removes the router and its default route.
func TestRouterLifetimeZero_RFC4861_6_3_4(t *testing.T) {
	f := autoconfFixture(t, ndp.Options{})
	f.ra(peerLL, ndp.RouterAdvertisement{RouterLifetime: 1800})
	f.ra(peerLL, ndp.RouterAdvertisement{RouterLifetime: 0})
	if f.hasRoute(netip.MustParsePrefix("::/0"), peerLL) || len(f.ndp.Routers()) != 0 {
		t.Fatal("router kept after lifetime 0")
	}
	f.link.Take()
}

// TestTwoHourRule_RFC4862_5_5_3e checks how a later RA changes a SLAAC
// address's valid lifetime.
func TestTwoHourRule_RFC4862_5_5_3e(t *testing.T) {
	tests := []struct {
		name            string
		first, second   uint32
		wantValidFromT0 time.Duration
	}{
		{"longer than two hours is taken", 36000, 3 * 3600, 3 * time.Hour},
		{"longer than remaining is taken", 3600, 5400, 5400 * time.Second},
		{"short, remaining over 2h: cut to 2h", 36000, 600, 2 * time.Hour},
		{"short, remaining under 2h: ignored", 3600, 600, 3600 * time.Second},
		{"infinite is taken", 3600, ndp.Infinite, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := autoconfFixture(t, ndp.Options{})
			pi := ndp.PrefixInfo{Prefix: slaacPfx, Autonomous: true, ValidLifetime: tt.first, PreferredLifetime: 60}
			f.ra(peerLL, ndp.RouterAdvertisement{Prefixes: []ndp.PrefixInfo{pi}})
			t0 := f.clk.Now()
			pi.ValidLifetime = tt.second
			f.ra(peerLL, ndp.RouterAdvertisement{Prefixes: []ndp.PrefixInfo{pi}})
			ps := f.ndp.Prefixes()
			if len(ps) != 1 {
				t.Fatalf("prefixes %+v", ps)
			}
			want := time.Time{}
			if tt.wantValidFromT0 != 0 {
				want = t0.Add(tt.wantValidFromT0)
			}
			if !ps[0].ValidUntil.Equal(want) {
				t.Fatalf("valid until %v, want %v", ps[0].ValidUntil.Sub(t0), tt.wantValidFromT0)
			}
			f.link.Take()
		})
	}
}

// TestRAFloodBounded: advertisements from many routers with many prefixes
// and DNS servers fill the lists only to their caps.
func TestRAFloodBounded(t *testing.T) {
	f := autoconfFixture(t, ndp.Options{CacheSize: 32})
	f.link.SetDiscard(true)
	for i := range 500 {
		src := netip.AddrFrom16([16]byte{0xfe, 0x80, 14: byte(i >> 8), 15: byte(i)})
		pfx := netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0, 2: byte(i >> 8), 3: byte(i)}), 64)
		f.ra(src, ndp.RouterAdvertisement{
			RouterLifetime: 1800,
			SourceLinkAddr: stack.MAC{2, 9, 0, 0, byte(i >> 8), byte(i)},
			Prefixes:       []ndp.PrefixInfo{{Prefix: pfx, OnLink: true, Autonomous: true, ValidLifetime: 3600, PreferredLifetime: 60}},
			DNS:            []ndp.RDNSS{{Lifetime: 600, Servers: []netip.Addr{pfx.Addr().Next()}}},
		})
	}
	f.clk.Advance(time.Second)
	if r, p, d, e := len(f.ndp.Routers()), len(f.ndp.Prefixes()), len(f.ndp.DNSServers()), len(f.ndp.Entries()); r != ndp.DefaultMaxRouters || p != ndp.DefaultMaxPrefixes || d != ndp.DefaultMaxDNSServers || e > 32 {
		t.Fatalf("routers %d prefixes %d dns %d entries %d", r, p, d, e)
	}
	if n := len(f.nic.Addresses()); n > 1+ndp.DefaultMaxPrefixes {
		t.Fatalf("%d addresses", n)
	}
	if f.counter("ndp.ra.routers_full") == 0 || f.counter("ndp.ra.prefixes_full") == 0 {
		t.Fatal("caps not counted")
	}
}

// TestRANotAutoconfiguring: without Autoconfigure an RA only teaches the
// neighbour cache.
func TestRANotAutoconfiguring(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.ra(peerLL, ndp.RouterAdvertisement{RouterLifetime: 1800,
		Prefixes: []ndp.PrefixInfo{{Prefix: slaacPfx, OnLink: true, Autonomous: true, ValidLifetime: 3600, PreferredLifetime: 60}}})
	if len(f.ndp.Routers()) != 0 || len(f.ndp.Prefixes()) != 0 {
		t.Fatal("configured from an RA without Autoconfigure")
	}
	if e, ok := f.entry(peerLL); !ok || !e.Router {
		t.Fatalf("router not learnt: %+v", e)
	}
}

// TestStableAddress_RFC7217: identifiers are stable for the same inputs and
// change with the prefix, the interface, the DAD counter and the key; with
// Options.StableSecret SLAAC uses them.
func TestStableAddress_RFC7217(t *testing.T) {
	key := []byte("0123456789abcdef")
	a := ndp.StableAddress(slaacPfx, "eth0", nil, 0, key)
	if a != ndp.StableAddress(slaacPfx, "eth0", nil, 0, key) {
		t.Fatal("not stable")
	}
	for _, b := range []netip.Prefix{
		ndp.StableAddress(netip.MustParsePrefix("fd00:2::/64"), "eth0", nil, 0, key),
		ndp.StableAddress(slaacPfx, "eth1", nil, 0, key),
		ndp.StableAddress(slaacPfx, "eth0", nil, 1, key),
		ndp.StableAddress(slaacPfx, "eth0", nil, 0, []byte("another key....!")),
	} {
		if b.Addr() == a.Addr() {
			t.Fatalf("same identifier %v for different inputs", b)
		}
	}
	if !slaacPfx.Contains(a.Addr()) || a.Bits() != 64 {
		t.Fatalf("%v not in %v", a, slaacPfx)
	}
	f := autoconfFixture(t, ndp.Options{StableSecret: key})
	f.ra(peerLL, ndp.RouterAdvertisement{Prefixes: []ndp.PrefixInfo{{Prefix: slaacPfx, Autonomous: true, ValidLifetime: 3600, PreferredLifetime: 60}}})
	f.clk.Advance(time.Second)
	if !f.nic.HasAddress(a.Addr()) {
		t.Fatalf("SLAAC did not use the stable address %v: %v", a, f.nic.Addresses())
	}
	f.link.Take()
}

// TestLinkLocal_RFC4291: the EUI-64 link-local address flips the U/L bit.
func TestLinkLocal_RFC4291(t *testing.T) {
	got := ndp.LinkLocal(stack.MAC{0x00, 0x11, 0x22, 0x33, 0x44, 0x55})
	if want := netip.MustParsePrefix("fe80::211:22ff:fe33:4455/64"); got != want {
		t.Fatalf("LinkLocal = %v, want %v", got, want)
	}
}
