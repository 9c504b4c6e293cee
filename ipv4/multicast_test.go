package ipv4

import (
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// TestMulticastDeliveryRFC1112 checks RFC 1112 7.2: a host delivers a
// multicast datagram when the receiving interface belongs to its group
// (224.0.0.1 always), drops it otherwise (ipv4.rx.not_member), and never
// answers it with an ICMP error.
func TestMulticastDeliveryRFC1112(t *testing.T) {
	group := netip.MustParseAddr("239.1.2.3")
	tests := []struct {
		name       string
		dst        netip.Addr
		join       bool
		leave      bool
		forwarding bool
		delivered  bool
		counter    string
	}{
		{"all-hosts 224.0.0.1 is always joined", netip.MustParseAddr("224.0.0.1"), false, false, false, true, "ipv4.rx.delivered"},
		{"joined group is delivered", group, true, false, false, true, "ipv4.rx.delivered"},
		{"group not joined is dropped", group, false, false, false, false, "ipv4.rx.not_member"},
		{"group left is dropped", group, true, true, false, false, "ipv4.rx.not_member"},
		{"router delivers a group it joined", group, true, false, true, true, "ipv4.rx.delivered"},
		{"router does not forward multicast", group, false, false, true, false, "ipv4.fwd.multicast"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{Forwarding: tc.forwarding})
			if tc.join {
				if err := e.nic.JoinGroup(tc.dst); err != nil {
					t.Fatal(err)
				}
			}
			if tc.leave {
				if err := e.nic.LeaveGroup(tc.dst); err != nil {
					t.Fatal(err)
				}
			}
			e.inject(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: tc.dst, TTL: 1}, udpish("m")), stack.MulticastMAC(tc.dst))
			got := e.udp.TakePackets()
			if (len(got) == 1) != tc.delivered {
				t.Fatalf("transport got %d packets, want delivered=%v", len(got), tc.delivered)
			}
			if tc.delivered && (got[0].Dst != tc.dst || got[0].Src != peerAddr || got[0].TTL != 1) {
				t.Errorf("delivered %v -> %v ttl %d", got[0].Src, got[0].Dst, got[0].TTL)
			}
			if n := e.count(tc.counter); n != 1 {
				t.Errorf("%s = %d, want 1", tc.counter, n)
			}
			if f := e.link.Take(); len(f) != 0 {
				t.Errorf("sent %d frames about a multicast datagram", len(f))
			}
		})
	}
}

// TestMulticastNoPortUnreachable checks RFC 1122 3.2.2: no ICMP error
// about a datagram to a multicast group, even when nobody listens.
func TestMulticastNoPortUnreachable(t *testing.T) {
	e := newEnv(t, Options{})
	e.udp.SetRefuse(true)
	g := netip.MustParseAddr("224.0.0.251")
	if err := e.nic.JoinGroup(g); err != nil {
		t.Fatal(err)
	}
	e.inject(ipPacket(Fields{Protocol: 17, Src: peerAddr, Dst: g}, udpish("x")), stack.MulticastMAC(g))
	e.inject(ipPacket(Fields{Protocol: 99, Src: peerAddr, Dst: g}, udpish("x")), stack.MulticastMAC(g))
	if f := e.link.Take(); len(f) != 0 {
		t.Errorf("sent %d ICMP errors about multicast datagrams", len(f))
	}
	if n := e.count("icmp.tx.suppressed"); n != 2 {
		t.Errorf("icmp.tx.suppressed = %d, want 2", n)
	}
}

// BenchmarkHandleDeliverMulticast: a datagram to a joined group, delivered
// to the transport (the membership check is one map lookup).
func BenchmarkHandleDeliverMulticast(b *testing.B) {
	e := newEnv(b, Options{})
	e.udp.SetDiscard(true)
	g := netip.MustParseAddr("239.1.2.3")
	if err := e.nic.JoinGroup(g); err != nil {
		b.Fatal(err)
	}
	req := ipPacket(Fields{Protocol: stack.ProtocolUDP, Src: peerAddr, Dst: g, TTL: 1}, make([]byte, 1000))
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, len(req))
		copy(p.Bytes(), req)
		p.EtherType = stack.EtherTypeIPv4
		e.nic.DeliverNetworkPacket(p)
	}
	if e.count("ipv4.rx.delivered") == 0 {
		b.Fatal("nothing delivered")
	}
}
