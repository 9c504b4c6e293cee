package ndp_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

func seeds(f *testing.F) [][]byte {
	ra := ndp.RouterAdvertisement{RouterLifetime: 1800, SourceLinkAddr: peerMAC, MTU: 1400,
		Prefixes: []ndp.PrefixInfo{{Prefix: netip.MustParsePrefix("fd00::/64"), OnLink: true, Autonomous: true, ValidLifetime: 3600, PreferredLifetime: 60}},
		DNS:      []ndp.RDNSS{{Lifetime: 600, Servers: []netip.Addr{dnsServer}}}}
	return [][]byte{
		encode(&ndp.NeighborSolicitation{Target: ourIP, SourceLinkAddr: peerMAC}),
		encode(&ndp.NeighborSolicitation{Target: ourIP, Nonce: [6]byte{1}}),
		encode(&ndp.NeighborAdvertisement{Solicited: true, Override: true, Target: peerIP, TargetLinkAddr: peerMAC}),
		encode(&ndp.RouterSolicitation{SourceLinkAddr: peerMAC}),
		encode(&ra),
		encode(&ndp.Redirect{Target: peerLL, Destination: otherIP, TargetLinkAddr: peerMAC}),
	}
}

// FuzzMessage: Validate never panics, and after it passes no accessor or
// decoder does; a decoded NS/NA/RS re-encodes to a valid message.
func FuzzMessage(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := ndp.Message(b)
		if m.Validate() != nil {
			return
		}
		ndp.Check(m, peerLL, allNodes, 255)
		ndp.Check(m, netip.IPv6Unspecified(), stack.SolicitedNodeAddress(ourIP), 255)
		var re []byte
		switch m.Type() {
		case ndp.TypeNeighborSolicitation:
			x := m.NeighborSolicitation()
			re = encode(&x)
		case ndp.TypeNeighborAdvertisement:
			x := m.NeighborAdvertisement()
			re = encode(&x)
		case ndp.TypeRouterSolicitation:
			x := m.RouterSolicitation()
			re = encode(&x)
		case ndp.TypeRouterAdvertisement:
			x := m.RouterAdvertisement()
			re = encode(&x)
		case ndp.TypeRedirect:
			x := m.Redirect()
			re = encode(&x)
		}
		if err := ndp.Message(re).Validate(); err != nil {
			t.Fatalf("re-encoding of a valid message is invalid: %v", err)
		}
	})
}

// FuzzHandle feeds arbitrary messages through HandleICMPv6 (as from
// several sources and to several destinations) on an autoconfiguring,
// advertising-capable host with a pending resolution; nothing may panic,
// leak, or grow the tables past their caps, and whatever we send is valid.
func FuzzHandle(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s, uint8(0))
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, how uint8) {
		fx := newFixture(t, ndp.Options{CacheSize: 4, MaxRouters: 2, MaxPrefixes: 2, MaxDNSServers: 2})
		if how&1 != 0 {
			fx.ndp.Autoconfigure(fx.nic)
		}
		if how&2 != 0 {
			fx.ndp.Advertise(fx.nic, ndp.AdvertiseConfig{})
		}
		fx.send(peerIP, "queued")
		for _, src := range []netip.Addr{peerLL, peerIP, netip.IPv6Unspecified()} {
			for _, dst := range []netip.Addr{ourIP, allNodes, stack.SolicitedNodeAddress(ourIP)} {
				fx.deliverMsg(append([]byte(nil), b...), src, dst, 255, peerMAC)
			}
		}
		fx.clk.Advance(3 * time.Second)
		fx.takeMsgs() // decode checks every message we sent
		if n := len(fx.ndp.Entries()); n > 4 {
			t.Fatalf("%d entries, cap 4", n)
		}
		if len(fx.ndp.Routers()) > 2 || len(fx.ndp.Prefixes()) > 2 || len(fx.ndp.DNSServers()) > 2 {
			t.Fatal("RA tables past their caps")
		}
		fx.clk.Advance(2 * time.Minute)
		fx.link.Take()
		fx.ip.TakeFailures()
	})
}
