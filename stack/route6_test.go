package stack

import (
	"fmt"
	"net/netip"
	"testing"
)

// RFC 6724 (short form) and RFC 4007 zones: a link-local destination gets a
// link-local source and its zone names the interface; a global destination
// follows the longest matching route and gets a global source.
func TestFindRouteIPv6SourceSelection(t *testing.T) {
	s := New(Options{})
	eth0, _ := s.AddNIC("eth0", nullLink{1500})
	eth1, _ := s.AddNIC("eth1", nullLink{1400})
	for _, a := range []struct {
		n *NIC
		p string
	}{{eth0, "fe80::2/64"}, {eth0, "fd00::2/64"}, {eth1, "fe80::3/64"}, {eth1, "fd01::1/64"}, {eth0, "10.0.0.2/24"}} {
		if err := a.n.AddAddress(mustPrefix(a.p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddRoute(RouteEntry{Dst: mustPrefix("::/0"), Gateway: mustAddr("fe80::1%eth0")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dst          string
		nic          *NIC
		src, nextHop string
	}{
		{"fd00::9", eth0, "fd00::2", "fd00::9"},
		{"fd01::9", eth1, "fd01::1", "fd01::9"},
		{"2001:db8::1", eth0, "fd00::2", "fe80::1"},
		{"fe80::9%eth1", eth1, "fe80::3", "fe80::9"},
		{"ff02::1%eth1", eth1, "fe80::3", "ff02::1"},
		{"fe80::9", eth0, "fe80::2", "fe80::9"},
	}
	for _, tt := range tests {
		r, err := s.FindRoute(mustAddr(tt.dst), netip.Addr{})
		if err != nil {
			t.Fatalf("FindRoute(%s): %v", tt.dst, err)
		}
		if r.NIC != tt.nic || r.LocalAddr != mustAddr(tt.src) || r.NextHop != mustAddr(tt.nextHop) || r.RemoteAddr.Zone() != "" {
			t.Errorf("FindRoute(%s) = %s src %v via %v, want %s src %s via %s", tt.dst, r.NIC.Name(), r.LocalAddr, r.NextHop, tt.nic.Name(), tt.src, tt.nextHop)
		}
	}
	if _, err := s.FindRoute(mustAddr("fe80::9%eth7"), netip.Addr{}); err == nil {
		t.Error("FindRoute to an unknown zone succeeded")
	}
	if r, err := s.FindRoute(mustAddr("fd00::2"), netip.Addr{}); err != nil || !r.Local {
		t.Errorf("FindRoute(own address) = %+v, %v; want a local route", r, err)
	}
	if r, err := s.FindRoute(mustAddr("10.0.0.9"), netip.Addr{}); err != nil || r.LocalAddr != mustAddr("10.0.0.2") {
		t.Errorf("IPv4 route beside IPv6 ones: %+v, %v", r, err)
	}
}

type groupLog struct{ events []string }

func (g *groupLog) GroupJoined(n *NIC, a netip.Addr) { g.events = append(g.events, "join "+a.String()) }
func (g *groupLog) GroupLeft(n *NIC, a netip.Addr)   { g.events = append(g.events, "leave "+a.String()) }

// RFC 3810 / RFC 3376: a membership is reported once, when its first member
// joins, and withdrawn once, when its last member leaves.
func TestGroupMembershipIsCounted(t *testing.T) {
	s := New(Options{})
	eth0, _ := s.AddNIC("eth0", nullLink{1500})
	var log groupLog
	s.AddObserver(&log)
	g := mustAddr("ff02::1:3")
	for range 2 {
		if err := eth0.JoinGroup(g); err != nil {
			t.Fatal(err)
		}
	}
	if !eth0.IsMember(g) || !eth0.IsMember(mustAddr("ff02::1")) || eth0.IsMember(mustAddr("ff02::2")) {
		t.Fatal("membership not as joined")
	}
	eth0.LeaveGroup(g)
	if !eth0.IsMember(g) {
		t.Fatal("left after one of two leaves")
	}
	eth0.LeaveGroup(g)
	if eth0.IsMember(g) || eth0.LeaveGroup(g) == nil || eth0.JoinGroup(mustAddr("10.0.0.1")) == nil {
		t.Fatal("membership after last leave, or bad join accepted")
	}
	if want := "[join ff02::1:3 leave ff02::1:3]"; fmt.Sprint(log.events) != want {
		t.Fatalf("observer saw %v, want %s", log.events, want)
	}
	if got := SolicitedNodeAddress(mustAddr("fd00::12:3456")); got != mustAddr("ff02::1:ff12:3456") {
		t.Fatalf("SolicitedNodeAddress = %v", got)
	}
	if got := MulticastMAC(mustAddr("ff02::1:ff12:3456")); got != (MAC{0x33, 0x33, 0xff, 0x12, 0x34, 0x56}) {
		t.Fatalf("MulticastMAC = %v", got)
	}
}

// TestLinkLocalSharedAcrossLinks (RFC 4291 2.5.6): two interfaces may have
// the same link-local address (VLANs of one MAC form the same EUI-64
// one), but not one interface twice, and a global address stays unique.
func TestLinkLocalSharedAcrossLinks(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	a, _ := s.AddNIC("eth0.10", nullLink{1500})
	b, _ := s.AddNIC("eth0.20", nullLink{1500})
	ll := netip.MustParsePrefix("fe80::1/64")
	if err := a.AddAddress(ll); err != nil {
		t.Fatal(err)
	}
	if err := b.AddAddress(ll); err != nil {
		t.Errorf("the same link-local on a second link: %v", err)
	}
	if err := a.AddAddress(ll); err == nil {
		t.Error("the same link-local twice on one link was accepted")
	}
	g := netip.MustParsePrefix("fd00::1/64")
	if err := a.AddAddress(g); err != nil {
		t.Fatal(err)
	}
	if err := b.AddAddress(g); err == nil {
		t.Error("a global address on two interfaces was accepted")
	}
}
