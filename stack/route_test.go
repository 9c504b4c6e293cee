package stack

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
)

// nullLink is a LinkEndpoint that drops everything it is given.
type nullLink struct{ mtu int }

func (l nullLink) MTU() int                                   { return l.mtu }
func (nullLink) LinkAddress() MAC                             { return MAC{2, 0, 0, 0, 0, 1} }
func (nullLink) WritePacket(_ MAC, _ uint16, p *Packet) error { p.Release(); return nil }
func (nullLink) Attach(NetworkDispatcher)                     {}
func (nullLink) Close() error                                 { return nil }

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }

func TestFindRoute(t *testing.T) {
	s := New(Options{})
	eth0, _ := s.AddNIC("eth0", nullLink{1500})
	eth1, _ := s.AddNIC("eth1", nullLink{1400})
	if err := eth0.AddAddress(mustPrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	if err := eth1.AddAddress(mustPrefix("192.168.7.1/24")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRoute(RouteEntry{Dst: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("10.0.0.1")}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRoute(RouteEntry{Dst: mustPrefix("172.16.0.0/12"), Gateway: mustAddr("192.168.7.254")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dst, src           string
		nic                *NIC
		local, next        string
		isLocal, broadcast bool
		mtu                int
		err                error
	}{
		{dst: "10.0.0.1", nic: eth0, local: "10.0.0.2", next: "10.0.0.1", mtu: 1500},
		{dst: "8.8.8.8", nic: eth0, local: "10.0.0.2", next: "10.0.0.1", mtu: 1500},
		{dst: "172.20.1.1", nic: eth1, local: "192.168.7.1", next: "192.168.7.254", mtu: 1400},
		{dst: "192.168.7.9", nic: eth1, local: "192.168.7.1", next: "192.168.7.9", mtu: 1400},
		{dst: "192.168.7.255", nic: eth1, local: "192.168.7.1", next: "192.168.7.255", broadcast: true, mtu: 1400},
		{dst: "10.0.0.2", nic: eth0, local: "10.0.0.2", next: "10.0.0.2", isLocal: true, mtu: 65535},
		{dst: "192.168.7.1", src: "10.0.0.2", nic: eth1, local: "10.0.0.2", next: "192.168.7.1", isLocal: true, mtu: 65535},
		{dst: "8.8.8.8", src: "192.168.7.1", nic: eth0, local: "192.168.7.1", next: "10.0.0.1", mtu: 1500},
		{dst: "8.8.8.8", src: "1.2.3.4", err: syscall.EADDRNOTAVAIL},
	}
	for _, tc := range tests {
		var src netip.Addr
		if tc.src != "" {
			src = mustAddr(tc.src)
		}
		r, err := s.FindRoute(mustAddr(tc.dst), src)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err %v, want %v", tc.dst, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.dst, err)
			continue
		}
		if r.NIC != tc.nic || r.LocalAddr != mustAddr(tc.local) || r.NextHop != mustAddr(tc.next) ||
			r.Local != tc.isLocal || r.Broadcast != tc.broadcast || r.MTU() != tc.mtu || r.RemoteAddr != mustAddr(tc.dst) {
			t.Errorf("%s from %q: got %+v", tc.dst, tc.src, r)
		}
	}

	s.RemoveRoute(mustPrefix("0.0.0.0/0"), mustAddr("10.0.0.1"), nil)
	if _, err := s.FindRoute(mustAddr("8.8.8.8"), netip.Addr{}); !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("without a default route: %v", err)
	}
}

func TestAddressAndRouteErrors(t *testing.T) {
	s := New(Options{})
	n, _ := s.AddNIC("eth0", nullLink{1500})
	m, _ := s.AddNIC("eth1", nullLink{1500})
	if _, err := s.AddNIC("eth0", nullLink{1500}); err == nil {
		t.Fatal("duplicate NIC name accepted")
	}
	for _, bad := range []string{"0.0.0.0/8", "224.0.0.1/4", "255.255.255.255/32", "::1/128"} {
		if err := n.AddAddress(mustPrefix(bad)); err == nil {
			t.Errorf("AddAddress(%s) accepted", bad)
		}
	}
	if err := n.AddAddress(mustPrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	if err := m.AddAddress(mustPrefix("10.0.0.2/16")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("same address on two NICs: %v", err)
	}
	if err := s.AddRoute(RouteEntry{Dst: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("192.0.2.1")}); err == nil {
		t.Fatal("gateway off every subnet accepted")
	}
	if !n.IsBroadcast(mustAddr("10.0.0.255")) || !n.IsBroadcast(mustAddr("255.255.255.255")) || n.IsBroadcast(mustAddr("10.0.0.254")) {
		t.Fatal("IsBroadcast wrong")
	}
	if err := n.RemoveAddress(mustAddr("10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	if len(s.Routes()) != 0 {
		t.Fatalf("connected route left behind: %v", s.Routes())
	}
	if err := n.RemoveAddress(mustAddr("10.0.0.2")); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Fatalf("removing a missing address: %v", err)
	}
}

func TestLongestPrefixWins(t *testing.T) {
	s := New(Options{})
	a, _ := s.AddNIC("a", nullLink{1500})
	b, _ := s.AddNIC("b", nullLink{1500})
	a.AddAddress(mustPrefix("10.0.0.1/8"))
	b.AddAddress(mustPrefix("10.1.2.1/24"))
	for dst, want := range map[string]*NIC{"10.1.2.9": b, "10.1.3.9": a, "10.200.0.1": a} {
		r, err := s.FindRoute(mustAddr(dst), netip.Addr{})
		if err != nil || r.NIC != want {
			t.Errorf("%s: nic %v err %v", dst, r.NIC.Name(), err)
		}
	}
}

func TestMAC(t *testing.T) {
	m, err := ParseMAC("02:00:5E:10:00:01")
	if err != nil || m.String() != "02:00:5e:10:00:01" || m.IsMulticast() || m.IsZero() {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"", "02:00", "zz:00:5e:10:00:01", "00:00:00:00:00:00:00:00"} {
		if _, err := ParseMAC(bad); err == nil {
			t.Errorf("ParseMAC(%q) accepted", bad)
		}
	}
	if !BroadcastMAC.IsBroadcast() || !BroadcastMAC.IsMulticast() {
		t.Fatal("broadcast")
	}
}

func TestCounters(t *testing.T) {
	s := New(Options{})
	c := s.Counters().Get("x.rx.y")
	c.Inc()
	c.Add(2)
	if s.Counters().Get("x.rx.y") != c || s.Counters().Value("x.rx.y") != 3 || s.Counters().Value("nope") != 0 {
		t.Fatal("counter registry")
	}
	snap := s.Counters().Snapshot()
	for i := 1; i < len(snap); i++ {
		if snap[i-1].Name > snap[i].Name {
			t.Fatal("snapshot not sorted")
		}
	}
}

func TestUnknownEtherTypeCountedAndReleased(t *testing.T) {
	s := New(Options{})
	n, _ := s.AddNIC("eth0", nullLink{1500})
	start := LivePackets()
	p := NewPacketFrom([]byte{1, 2, 3})
	p.EtherType = 0x86dd
	n.DeliverNetworkPacket(p)
	if LivePackets() != start || s.Counters().Value("link.rx.unknown_ethertype") != 1 {
		t.Fatal("unknown EtherType not counted or leaked")
	}
}

func TestSecondaryAddress(t *testing.T) {
	s := New(Options{})
	n, _ := s.AddNIC("eth0", nullLink{1500})
	for _, a := range []string{"10.0.0.2/24", "10.0.0.3/24"} {
		if err := n.AddAddress(mustPrefix(a)); err != nil {
			t.Fatalf("AddAddress(%s): %v", a, err)
		}
	}
	if rs := s.Routes(); len(rs) != 1 || rs[0].Src != mustAddr("10.0.0.2") {
		t.Fatalf("routes with a secondary: %v", rs)
	}
	if r, err := s.FindRoute(mustAddr("10.0.0.9"), mustAddr("10.0.0.3")); err != nil || r.LocalAddr != mustAddr("10.0.0.3") {
		t.Fatalf("route from the secondary: %+v %v", r, err)
	}
	if err := n.RemoveAddress(mustAddr("10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	if rs := s.Routes(); len(rs) != 1 || rs[0].Src != mustAddr("10.0.0.3") {
		t.Fatalf("after removing the primary: %v", rs)
	}
	if err := n.RemoveAddress(mustAddr("10.0.0.3")); err != nil || len(s.Routes()) != 0 {
		t.Fatalf("after removing both: %v %v", err, s.Routes())
	}
}

func TestBroadcastRoute(t *testing.T) {
	s := New(Options{})
	s.AddNIC("eth0", nullLink{1500})
	n, _ := s.AddNIC("eth1", nullLink{1400})
	r := n.BroadcastRoute(netip.Addr{})
	if r.NIC != n || r.LocalAddr != netip.IPv4Unspecified() || !r.Broadcast || r.Stack() != s || r.MTU() != 1400 {
		t.Fatalf("%+v", r)
	}
}
