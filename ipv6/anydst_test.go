package ipv6

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/tapstack/tapstack/stack"
)

// TestAcceptAnyDestinationDelivers: with the mode on, a unicast packet to
// an address that is not ours is delivered to the transport with its
// original destination instead of being dropped (a host, RFC 8200) or
// forwarded; multicast rules do not change.
func TestAcceptAnyDestinationDelivers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		on      bool
		dst     netip.Addr
		deliver bool
	}{
		{"off: foreign unicast not delivered", false, farAddr, false},
		{"on: foreign unicast delivered", true, farAddr, true},
		{"on: our address delivered", true, ourAddr, true},
		{"on: multicast not joined still dropped", true, netip.MustParseAddr("ff05::1:3"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{AcceptAnyDestination: tc.on})
			e.inject(ipPacket(Fields{NextHeader: stack.ProtocolUDP, Src: peerAddr, Dst: tc.dst}, udpish("x")), ourMAC)
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
// foreign address that nobody takes is answered with port unreachable
// (RFC 4443 3.1, code 4) from the address the peer sent to, checksum
// checked by gopacket.
func TestAcceptAnyPortUnreachableFromOriginalDestination(t *testing.T) {
	e := newEnv(t, Options{})
	e.pr.SetAcceptAnyDestination(true)
	e.udp.SetRefuse(true)
	e.inject(ipPacket(Fields{NextHeader: stack.ProtocolUDP, Src: peerAddr, Dst: farAddr}, udpish("x")), ourMAC)
	ip, ic := decode(t, oneFrame(t, e.link).Data)
	if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(1, 4) {
		t.Fatalf("not port unreachable: %v", ic)
	}
	if !ip.SrcIP.Equal(farAddr.AsSlice()) || !ip.DstIP.Equal(peerAddr.AsSlice()) {
		t.Errorf("port unreachable %v -> %v, want %v -> %v", ip.SrcIP, ip.DstIP, farAddr, peerAddr)
	}
}

// TestAcceptAnyEchoFilter: an echo request to a foreign address is
// answered from that address only when the forwarded-echo filter allows
// (counter icmpv6.rx.echo_not_answered for the others).
func TestAcceptAnyEchoFilter(t *testing.T) {
	e := newEnv(t, Options{AcceptAnyDestination: true})
	e.pr.SetForwardedEcho(func(_, dst netip.Addr) bool { return dst == farAddr })
	for _, dst := range []netip.Addr{farAddr, netip.MustParseAddr("2001:db8::8")} {
		e.inject(icmpPacket(peerAddr, dst, ICMPEchoRequest, 0, EchoRest(1, 2), []byte("ping")), ourMAC)
	}
	ip, ic := decode(t, oneFrame(t, e.link).Data)
	if !ip.SrcIP.Equal(farAddr.AsSlice()) || ic == nil || ic.TypeCode.Type() != ICMPEchoReply {
		t.Errorf("reply from %v: %v", ip.SrcIP, ic)
	}
	if n := e.count("icmpv6.rx.echo_not_answered"); n != 1 {
		t.Errorf("icmpv6.rx.echo_not_answered %d", n)
	}
}
