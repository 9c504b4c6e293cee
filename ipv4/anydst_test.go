package ipv4

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

var foreign = netip.MustParseAddr("192.0.2.80")

// TestAcceptAnyDestinationDelivers: with the mode on, a unicast packet to
// an address that is not ours is delivered to the transport with its
// original destination (not forwarded, not dropped as not for us); with
// it off (RFC 1122 3.2.1.3 host behaviour) it is not delivered. Broadcast
// and multicast rules do not change.
func TestAcceptAnyDestinationDelivers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		on      bool
		dst     netip.Addr
		deliver bool
	}{
		{"off: foreign unicast not delivered", false, foreign, false},
		{"on: foreign unicast delivered", true, foreign, true},
		{"on: our address delivered", true, ourAddr, true},
		{"on: multicast not joined still dropped", true, netip.MustParseAddr("239.1.2.3"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{AcceptAnyDestination: tc.on})
			e.inject(ipPacket(Fields{Protocol: stack.ProtocolUDP, Src: peerAddr, Dst: tc.dst}, udpish("x")), ourMAC)
			got := e.udp.TakePackets()
			if tc.deliver != (len(got) == 1) {
				t.Fatalf("delivered %d packets, want delivered=%v", len(got), tc.deliver)
			}
			if tc.deliver && got[0].Dst != tc.dst {
				t.Errorf("delivered with dst %v, want %v", got[0].Dst, tc.dst)
			}
		})
	}
}

// TestAcceptAnyPortUnreachableFromOriginalDestination: a datagram to a
// foreign address that nobody takes is answered, as a closed port (RFC
// 1122 3.2.2.1), with port unreachable whose source is the address the
// peer sent to, checked with gopacket; SendPortUnreachable (a forwarder
// refusing later) does the same.
func TestAcceptAnyPortUnreachableFromOriginalDestination(t *testing.T) {
	for _, later := range []bool{false, true} {
		e := newEnv(t, Options{})
		e.pr.SetAcceptAnyDestination(true)
		e.udp.SetRefuse(!later)
		if later {
			e.udp.SetDiscard(true)
		}
		e.inject(ipPacket(Fields{Protocol: stack.ProtocolUDP, Src: peerAddr, Dst: foreign}, udpish("x")), ourMAC)
		if later {
			p := stack.NewPacketFrom(ipPacket(Fields{Protocol: stack.ProtocolUDP, Src: peerAddr, Dst: foreign}, udpish("x")))
			p.MarkNetworkHeader()
			p.NIC = e.nic
			e.pr.SendPortUnreachable(p)
			p.Release()
		}
		frames := e.link.Take()
		if len(frames) != 1 {
			t.Fatalf("later=%v: %d frames sent, want 1 port unreachable", later, len(frames))
		}
		pkt := gopacket.NewPacket(frames[0].Data, layers.LayerTypeIPv4, gopacket.Default)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		icmp, _ := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if ip == nil || icmp == nil {
			t.Fatalf("later=%v: not IPv4/ICMP: %v", later, pkt)
		}
		if !ip.SrcIP.Equal(foreign.AsSlice()) || !ip.DstIP.Equal(peerAddr.AsSlice()) {
			t.Errorf("later=%v: port unreachable %v -> %v, want %v -> %v", later, ip.SrcIP, ip.DstIP, foreign, peerAddr)
		}
		if icmp.TypeCode != layers.CreateICMPv4TypeCode(3, 3) {
			t.Errorf("later=%v: ICMP %v, want port unreachable", later, icmp.TypeCode)
		}
	}
}

// TestAcceptAnyEchoFilter: an echo request to a foreign address is
// answered from that address only when the forwarded-echo filter allows.
func TestAcceptAnyEchoFilter(t *testing.T) {
	e := newEnv(t, Options{AcceptAnyDestination: true})
	e.pr.SetForwardedEcho(func(_, dst netip.Addr) bool { return dst == foreign })
	for _, dst := range []netip.Addr{foreign, netip.MustParseAddr("192.0.2.81")} {
		e.inject(ipPacket(Fields{Protocol: stack.ProtocolICMP, Src: peerAddr, Dst: dst}, icmpMsg(ICMPEcho, 0, EchoRest(1, 2), []byte("ping"))), ourMAC)
	}
	frames := e.link.Take()
	if len(frames) != 1 {
		t.Fatalf("%d replies, want 1", len(frames))
	}
	if h := Header(frames[0].Data); h.Src() != foreign || ICMP(h.Payload()).Type() != ICMPEchoReply {
		t.Errorf("reply from %v type %d", h.Src(), ICMP(h.Payload()).Type())
	}
}
