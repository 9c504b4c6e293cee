package ndp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/ndp"
)

var allRouters = netip.MustParseAddr("ff02::2")

// ras returns the router advertisements among msgs.
func ras(msgs []sent) []sent {
	var out []sent
	for _, m := range msgs {
		if m.msg.Type() == ndp.TypeRouterAdvertisement {
			out = append(out, m)
		}
	}
	return out
}

// TestAdvertise_RFC4861_6_2: an advertising interface joins ff02::2 and
// multicasts, from its link-local address, RAs with its /64 (L and A set),
// router lifetime 1800, the MTU and our SLLAO.
func TestAdvertise_RFC4861_6_2(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	if err := f.ndp.Advertise(f.nic, ndp.AdvertiseConfig{DNS: []netip.Addr{dnsServer}}); err != nil {
		t.Fatal(err)
	}
	if !f.nic.IsMember(allRouters) {
		t.Fatal("all-routers group not joined")
	}
	got := ras(f.takeMsgs())
	if len(got) != 1 || got[0].src != ourLL || got[0].dst != allNodes {
		t.Fatalf("RAs %+v", got)
	}
	ra := got[0].msg.RouterAdvertisement()
	want := ndp.PrefixInfo{Prefix: netip.MustParsePrefix("fd00::/64"), OnLink: true, Autonomous: true, ValidLifetime: 86400, PreferredLifetime: 14400}
	if ra.RouterLifetime != 1800 || ra.MTU != 1500 || ra.SourceLinkAddr != ourMAC || len(ra.Prefixes) != 1 || ra.Prefixes[0] != want ||
		len(ra.DNS) != 1 || ra.DNS[0].Servers[0] != dnsServer {
		t.Fatalf("RA %+v", ra)
	}
	// NAs now carry the router flag.
	f.ns(peerIP, peerMAC, ourIP)
	for _, m := range f.takeMsgs() {
		if m.msg.Type() == ndp.TypeNeighborAdvertisement && !m.msg.Router() {
			t.Fatal("NA from a router without the R flag")
		}
	}
}

// TestAdvertiseIntervals_RFC4861_6_2_4: the first advertisements are at
// most 16s apart, later ones MinInterval..MaxInterval.
func TestAdvertiseIntervals_RFC4861_6_2_4(t *testing.T) {
	f := newFixture(t, ndp.Options{Rand: func() float64 { return 0.99 }})
	f.ndp.Advertise(f.nic, ndp.AdvertiseConfig{})
	f.link.Take()
	var times []time.Duration
	start := f.clk.Now()
	for range 6 {
		f.clk.RunNext()
		times = append(times, f.clk.Now().Sub(start))
		if len(ras(f.takeMsgs())) != 1 {
			t.Fatal("timer fired without one RA")
		}
	}
	prev := time.Duration(0)
	for i, at := range times {
		d := at - prev
		prev = at
		if i < 2 && d != 16*time.Second {
			t.Fatalf("initial interval %d is %v, want 16s", i, d)
		}
		if i >= 3 && (d < 200*time.Second || d > 600*time.Second) {
			t.Fatalf("interval %d is %v, want 200s..600s", i, d)
		}
	}
}

// TestRSRateLimit_RFC4861_6_2_6: a solicitation is answered within 500 ms,
// but no sooner than MIN_DELAY_BETWEEN_RAS after the last RA.
func TestRSRateLimit_RFC4861_6_2_6(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.ndp.Advertise(f.nic, ndp.AdvertiseConfig{})
	f.link.Take()
	rs := ndp.RouterSolicitation{SourceLinkAddr: peerMAC}
	f.deliverMsg(encode(&rs), peerLL, allRouters, 255, peerMAC)
	f.clk.Advance(ndp.MinDelayBetweenRAs - time.Millisecond)
	if got := ras(f.takeMsgs()); len(got) != 0 {
		t.Fatalf("answered %v after the last RA", ndp.MinDelayBetweenRAs-time.Millisecond)
	}
	f.clk.Advance(time.Millisecond)
	if got := ras(f.takeMsgs()); len(got) != 1 {
		t.Fatalf("RS not answered at MIN_DELAY_BETWEEN_RAS: %d RAs", len(got))
	}
	if f.counter("ndp.tx.ra_rate_limited") != 1 {
		t.Fatal("rate limit not counted")
	}
	if e, ok := f.entry(peerLL); !ok || e.MAC != peerMAC {
		t.Fatalf("soliciting host not learnt: %+v", e)
	}
	// Much later, an RS is answered within MAX_RA_DELAY_TIME.
	f.clk.Advance(10 * time.Second)
	f.takeMsgs()
	f.deliverMsg(encode(&rs), peerLL, allRouters, 255, peerMAC)
	f.clk.Advance(500 * time.Millisecond)
	if got := ras(f.takeMsgs()); len(got) != 1 {
		t.Fatalf("RS not answered within 500ms: %d RAs", len(got))
	}
}

// TestStopAdvertising_RFC4861_6_2_5: stopping sends a last RA with router
// lifetime 0 and leaves ff02::2.
func TestStopAdvertising_RFC4861_6_2_5(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	f.ndp.Advertise(f.nic, ndp.AdvertiseConfig{})
	f.link.Take()
	f.ndp.StopAdvertising(f.nic)
	got := ras(f.takeMsgs())
	if len(got) != 1 || got[0].msg.RouterLifetime() != 0 {
		t.Fatalf("final RA %+v", got)
	}
	if f.nic.IsMember(allRouters) {
		t.Fatal("still in ff02::2")
	}
}

// TestRouterConfiguresHost: a host stack autoconfigures from a router
// stack's advertisements over a wire: link-local, SLAAC address in the
// router's /64, default route via the router's link-local address.
func TestRouterConfiguresHost(t *testing.T) {
	r := newFixture(t, ndp.Options{})
	h := newBareFixture(t, ndp.Options{})
	h.link.SetMAC(otherMAC)
	stacktest.Connect(r.link, h.link)
	if err := h.ndp.Autoconfigure(h.nic); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(2 * time.Second) // link-local DAD, first RS (no router yet)
	if err := r.ndp.Advertise(r.nic, ndp.AdvertiseConfig{}); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(2 * time.Second) // SLAAC DAD
	want := netip.MustParseAddr("fd00::ff:fe00:3")
	if !h.nic.HasAddress(want) {
		t.Fatalf("host addresses %v, want %v", h.nic.Addresses(), want)
	}
	if !h.hasRoute(netip.MustParsePrefix("::/0"), ourLL) {
		t.Fatalf("host routes %v", h.s.Routes())
	}
	rt, err := h.s.FindRoute(netip.MustParseAddr("2001:db8::1"), netip.Addr{})
	if err != nil || rt.NextHop != ourLL || rt.LocalAddr != want {
		t.Fatalf("route to the internet: %+v %v", rt, err)
	}
	r.link.Take()
	h.link.Take()
}
