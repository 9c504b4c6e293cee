package stack

import (
	"net/netip"
	"testing"
	"unsafe"
)

// TestPackedRouteRoundTrip packs every kind of route the stack makes (on
// link, through a gateway, local, broadcast, IPv6 link-local, IPv6
// through a link-local gateway) and checks the packed form
// gives back the same route, in 64 bytes.
func TestPackedRouteRoundTrip(t *testing.T) {
	if n := unsafe.Sizeof(PackedRoute{}); n != 64 {
		t.Errorf("PackedRoute is %d bytes, want 64", n)
	}
	s := New(Options{})
	eth0, _ := s.AddNIC("eth0", nullLink{1500})
	for _, p := range []string{"10.0.0.2/24", "fd00::2/64", "fe80::2/64"} {
		if err := eth0.AddAddress(mustPrefix(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []RouteEntry{
		{Dst: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("10.0.0.1")},
		{Dst: mustPrefix("::/0"), Gateway: mustAddr("fe80::1"), NIC: eth0},
	} {
		if err := s.AddRoute(e); err != nil {
			t.Fatal(err)
		}
	}
	kinds := map[string]bool{}
	for _, dst := range []string{"10.0.0.9", "8.8.8.8", "10.0.0.2", "10.0.0.255", "fd00::9", "fe80::7%eth0", "2001:db8::1"} {
		r, err := s.FindRoute(mustAddr(dst), netip.Addr{})
		if err != nil {
			t.Fatalf("%s: %v", dst, err)
		}
		kinds["local"] = kinds["local"] || r.Local
		kinds["broadcast"] = kinds["broadcast"] || r.Broadcast
		kinds["gateway"] = kinds["gateway"] || r.NextHop != r.RemoteAddr
		pr := r.Pack()
		if got := pr.Route(); got != r {
			t.Errorf("%s: packed and unpacked %+v, want %+v", dst, got, r)
		}
		if pr.LocalAddr() != r.LocalAddr || pr.RemoteAddr() != r.RemoteAddr {
			t.Errorf("%s: packed addresses %v -> %v, want %v -> %v", dst, pr.LocalAddr(), pr.RemoteAddr(), r.LocalAddr, r.RemoteAddr)
		}
	}
	if !kinds["local"] || !kinds["broadcast"] || !kinds["gateway"] {
		t.Errorf("routes made: %v, want every kind", kinds)
	}
}
