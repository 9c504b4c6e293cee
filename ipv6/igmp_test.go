package ipv6

import (
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

// TestIGMPOverIPv6IsUnknownNextHeader_RFC8200_4: IGMP (protocol 2) is
// registered with the stack for IPv4; an IPv6 packet with next header 2
// (an IGMP query, say) must not reach it, but be answered as an unknown
// next header (parameter problem code 1), as Linux does.
func TestIGMPOverIPv6IsUnknownNextHeader_RFC8200_4(t *testing.T) {
	e := newEnv(t, Options{})
	igmp := stacktest.NewTransport(stack.ProtocolIGMP)
	if err := e.s.RegisterTransport(igmp); err != nil {
		t.Fatal(err)
	}
	query := []byte{0x11, 100, 0xee, 0x9b, 0, 0, 0, 0} // IGMPv2 general query
	e.inject(ipPacket(Fields{NextHeader: stack.ProtocolIGMP, Src: peerAddr, Dst: ourAddr}, query), ourMAC)
	if got := igmp.TakePackets(); len(got) != 0 {
		t.Fatalf("IGMP got %d IPv6 packets", len(got))
	}
	_, ic := decode(t, oneFrame(t, e.link).Data)
	if ic == nil || ic.TypeCode != layers.CreateICMPv6TypeCode(layers.ICMPv6TypeParameterProblem, 1) {
		t.Fatalf("got %v, want parameter problem code 1", ic)
	}
	if e.count("ipv6.rx.unknown_protocol") != 1 {
		t.Errorf("ipv6.rx.unknown_protocol = %d, want 1", e.count("ipv6.rx.unknown_protocol"))
	}
}
