package tcp

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// tableEndpoint is an endpoint that has only what the demux table reads.
func tableEndpoint(local, remote netip.AddrPort) *endpoint {
	return &endpoint{
		route: stack.Route{LocalAddr: local.Addr(), RemoteAddr: remote.Addr(), NextHop: remote.Addr()}.Pack(),
		lport: local.Port(), rport: remote.Port(),
	}
}

// TestConnTableAgainstMap runs random additions and removals against a
// Go map and checks after each that every connection is found, that no
// other is, and the count; with few remote addresses and ports, so that
// runs of occupied slots form and backward-shift deletion moves members.
// The table grows to thousands and shrinks back to its least size.
func TestConnTableAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab connTable
	tab.init([]byte("test secret"))
	ref := map[connKey]*endpoint{}
	local := netip.MustParseAddrPort("10.0.0.2:80")
	mapped := netip.MustParseAddrPort("[::ffff:10.0.0.2]:80")
	pick := func() (netip.AddrPort, netip.AddrPort) {
		l := local
		if rng.IntN(4) == 0 {
			l = mapped
		}
		ra := netip.AddrFrom4([4]byte{10, 0, 0, byte(3 + rng.IntN(4))})
		if l == mapped {
			ra = netip.AddrFrom16(ra.As16())
		}
		return l, netip.AddrPortFrom(ra, uint16(40000+rng.IntN(3000)))
	}
	check := func(step int) {
		t.Helper()
		if tab.len() != len(ref) {
			t.Fatalf("step %d: table holds %d, want %d", step, tab.len(), len(ref))
		}
		for k, e := range ref {
			if got := tab.get(k); got != e {
				t.Fatalf("step %d: get(%v) = %p, want %p", step, k, got, e)
			}
		}
		if n := len(tab.appendTo(nil)); n != len(ref) {
			t.Fatalf("step %d: appendTo gave %d connections, want %d", step, n, len(ref))
		}
	}
	peak := 0
	for step := range 30000 {
		grow := step < 15000
		l, r := pick()
		k := tuple{l, r}.key()
		if e, ok := ref[k]; ok {
			if !grow || rng.IntN(3) == 0 {
				if !tab.remove(k, e) {
					t.Fatalf("step %d: remove(%v) found nothing", step, k)
				}
				delete(ref, k)
			}
		} else if grow {
			if tab.get(k) != nil {
				t.Fatalf("step %d: get(%v) found a connection never added", step, k)
			}
			e := tableEndpoint(l, r)
			tab.put(k, e)
			ref[k] = e
		} else if tab.remove(k, tableEndpoint(l, r)) {
			t.Fatalf("step %d: remove(%v) took out a connection never added", step, k)
		}
		peak = max(peak, len(tab.slots))
		if step%997 == 0 {
			check(step)
		}
	}
	for k, e := range ref {
		if !tab.remove(k, e) {
			t.Fatalf("draining: remove(%v) found nothing", k)
		}
		delete(ref, k)
	}
	check(-1)
	if peak < 4096 || len(tab.slots) != minConnSlots {
		t.Fatalf("table peaked at %d slots and ended at %d, want >= 4096 and %d", peak, len(tab.slots), minConnSlots)
	}
}

// TestConnTableRemoveOnlyItsOwn: removing a key held by another
// endpoint (a connection replaced under the same tuple) leaves it.
func TestConnTableRemoveOnlyItsOwn(t *testing.T) {
	var tab connTable
	tab.init(nil)
	l, r := netip.MustParseAddrPort("10.0.0.2:80"), netip.MustParseAddrPort("10.0.0.1:5000")
	k := tuple{l, r}.key()
	a, b := tableEndpoint(l, r), tableEndpoint(l, r)
	tab.put(k, a)
	if tab.remove(k, b) || tab.get(k) != a {
		t.Fatal("remove took out another endpoint's entry")
	}
	if !tab.remove(k, a) || tab.get(k) != nil || tab.len() != 0 {
		t.Fatal("remove of the entry's own endpoint failed")
	}
}

// BenchmarkConnTableGet is a demux lookup among 50,000 connections.
func BenchmarkConnTableGet(b *testing.B) {
	var tab connTable
	tab.init([]byte("bench"))
	l := netip.MustParseAddrPort("10.0.0.2:80")
	keys := make([]connKey, 0, 50000)
	for i := range 50000 {
		r := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 14), 1}), uint16(1024+i&0x3fff))
		k := tuple{l, r}.key()
		tab.put(k, tableEndpoint(l, r))
		keys = append(keys, k)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if tab.get(keys[i%len(keys)]) == nil {
			b.Fatal("lost a connection")
		}
	}
}
