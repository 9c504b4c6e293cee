package stack

import (
	"net/netip"
	"testing"
)

// l3Link is an endpoint that records what the NIC writes; l3 says what
// its IsL3 reports.
type l3Link struct {
	l3   bool
	sent []sentPacket
}

type sentPacket struct {
	dst       MAC
	etherType uint16
}

func (l *l3Link) IsL3() bool             { return l.l3 }
func (*l3Link) MTU() int                 { return 1500 }
func (*l3Link) LinkAddress() MAC         { return MAC{} }
func (*l3Link) Attach(NetworkDispatcher) {}
func (*l3Link) Close() error             { return nil }
func (l *l3Link) WritePacket(dst MAC, et uint16, p *Packet) error {
	l.sent = append(l.sent, sentPacket{dst, et})
	p.Release()
	return nil
}

// countingResolver records the next hops it is asked to resolve.
type countingResolver struct{ asked []netip.Addr }

func (r *countingResolver) WriteTo(_ *NIC, nextHop netip.Addr, _ uint16, p *Packet) error {
	r.asked = append(r.asked, nextHop)
	p.Release()
	return nil
}

// recordingProto records the packets of its EtherType.
type recordingProto struct {
	et  uint16
	got int
}

func (r *recordingProto) EtherType() uint16 { return r.et }
func (r *recordingProto) HandlePacket(p *Packet) {
	r.got++
	p.Release()
}

func TestIsL3(t *testing.T) {
	for _, tc := range []struct {
		name string
		ep   LinkEndpoint
		want bool
	}{
		{"no L3Link method: Ethernet-like", nullLink{1500}, false},
		{"IsL3 false", &l3Link{l3: false}, false},
		{"IsL3 true", &l3Link{l3: true}, true},
	} {
		s := New(Options{})
		nic, _ := s.AddNIC("x0", tc.ep)
		if got := IsL3(tc.ep); got != tc.want {
			t.Errorf("%s: IsL3(ep) = %v, want %v", tc.name, got, tc.want)
		}
		if got := nic.IsL3(); got != tc.want {
			t.Errorf("%s: nic.IsL3() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// An L3 NIC has no neighbours: unicast next hops of both families, the
// broadcast address and multicast groups all go out at once to the zero
// MAC, and the registered resolvers are never asked (as Linux does on an
// IFF_NOARP TUN device).
func TestL3NICNeverResolves(t *testing.T) {
	s := New(Options{})
	r := &countingResolver{}
	s.SetResolver(EtherTypeIPv4, r)
	s.SetResolver(EtherTypeIPv6, r)
	ep := &l3Link{l3: true}
	nic, _ := s.AddNIC("tun0", ep)
	if err := nic.AddAddress(mustPrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	hops := []struct {
		hop string
		et  uint16
	}{
		{"10.0.0.1", EtherTypeIPv4},
		{"192.0.2.9", EtherTypeIPv4},
		{"10.0.0.255", EtherTypeIPv4},
		{"224.0.0.251", EtherTypeIPv4},
		{"fd00::1", EtherTypeIPv6},
		{"ff02::1", EtherTypeIPv6},
	}
	for _, h := range hops {
		if err := nic.WritePacket(mustAddr(h.hop), h.et, NewPacket(Headroom, 20)); err != nil {
			t.Errorf("WritePacket(%s): %v", h.hop, err)
		}
	}
	if len(r.asked) != 0 {
		t.Errorf("resolver asked for %v on an L3 NIC", r.asked)
	}
	if len(ep.sent) != len(hops) {
		t.Fatalf("endpoint got %d packets, want %d", len(ep.sent), len(hops))
	}
	for i, sp := range ep.sent {
		if sp.dst != (MAC{}) || sp.etherType != hops[i].et {
			t.Errorf("packet to %s went to %v type %#04x, want the zero MAC, type %#04x", hops[i].hop, sp.dst, sp.etherType, hops[i].et)
		}
	}
	// Without any resolver an L3 NIC still sends; an Ethernet-like one
	// cannot.
	s2 := New(Options{})
	l3nic, _ := s2.AddNIC("tun0", &l3Link{l3: true})
	if err := l3nic.WritePacket(mustAddr("10.0.0.1"), EtherTypeIPv4, NewPacket(Headroom, 20)); err != nil {
		t.Errorf("L3 NIC without a resolver: %v", err)
	}
	eth, _ := s2.AddNIC("eth0", &l3Link{l3: false})
	if err := eth.WritePacket(mustAddr("10.0.0.1"), EtherTypeIPv4, NewPacket(Headroom, 20)); err == nil {
		t.Error("Ethernet-like NIC without a resolver sent a unicast packet")
	}
}

// Inbound packets of an L3 NIC carry the EtherType of their IP version
// nibble, whatever the endpoint set; anything else is counted as an
// unknown EtherType and dropped.
func TestL3NICEtherTypeFromVersion(t *testing.T) {
	s := New(Options{})
	v4, v6 := &recordingProto{et: EtherTypeIPv4}, &recordingProto{et: EtherTypeIPv6}
	arp := &recordingProto{et: EtherTypeARP}
	for _, p := range []NetworkProtocol{v4, v6, arp} {
		if err := s.RegisterNetwork(p); err != nil {
			t.Fatal(err)
		}
	}
	nic, _ := s.AddNIC("tun0", &l3Link{l3: true})
	for _, tc := range []struct {
		data []byte
		et   uint16 // what a confused endpoint claims
	}{
		{[]byte{0x45, 0}, 0},
		{[]byte{0x60, 0}, EtherTypeARP},
		{[]byte{0x45, 0}, EtherTypeIPv6},
		{[]byte{0x10, 0}, EtherTypeIPv4}, // version 1
		{[]byte{}, EtherTypeARP},         // empty
	} {
		p := NewPacketFrom(tc.data)
		p.EtherType = tc.et
		nic.DeliverNetworkPacket(p)
	}
	if v4.got != 2 || v6.got != 1 || arp.got != 0 {
		t.Errorf("delivered IPv4 %d, IPv6 %d, ARP %d; want 2, 1, 0", v4.got, v6.got, arp.got)
	}
	if n := s.Counters().Value("link.rx.unknown_ethertype"); n != 2 {
		t.Errorf("link.rx.unknown_ethertype = %d, want 2", n)
	}
}

func TestIPEtherType(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want uint16
	}{
		{nil, 0},
		{[]byte{0x45}, EtherTypeIPv4},
		{[]byte{0x4f}, EtherTypeIPv4},
		{[]byte{0x60}, EtherTypeIPv6},
		{[]byte{0x00}, 0},
		{[]byte{0x50}, 0},
		{[]byte{0xff}, 0},
	} {
		if got := IPEtherType(tc.b); got != tc.want {
			t.Errorf("IPEtherType(% x) = %#04x, want %#04x", tc.b, got, tc.want)
		}
	}
}

// discardL3 is an L3 endpoint that releases what it is given.
type discardL3 struct{ nullLink }

func (discardL3) IsL3() bool { return true }

func BenchmarkL3NICWritePacket(b *testing.B) {
	s := New(Options{})
	nic, _ := s.AddNIC("tun0", discardL3{nullLink{1500}})
	hop := mustAddr("10.0.0.1")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		nic.WritePacket(hop, EtherTypeIPv4, NewPacket(Headroom, 1400))
	}
}
