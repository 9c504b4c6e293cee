package dhcp

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// sendBroadcast sends payload as a UDP datagram from src:68 to
// 255.255.255.255:67 out of nic.
//
// It builds the datagram itself and sends it along nic.BroadcastRoute,
// instead of writing through the udp.Conn: a udp.Conn's broadcast goes out
// of the route Stack.FindRoute picks for 255.255.255.255, which is the
// stack's first NIC, and a DHCP client must send on its own interface
// (Linux clients use SO_BINDTODEVICE or a packet socket for the same reason).
func sendBroadcast(s *stack.Stack, nic *stack.NIC, src netip.Addr, payload []byte) error {
	n := udp.HeaderLen + len(payload)
	p := stack.NewPacket(stack.Headroom, n)
	d := p.Bytes()
	copy(d[udp.HeaderLen:], payload)
	udp.Fields{SrcPort: ClientPort, DstPort: ServerPort, Length: uint16(n)}.Encode(d)
	h := udp.Header(d)
	h.SetChecksum(h.ComputeChecksum(src, broadcastAddr))
	r := nic.BroadcastRoute(src)
	return r.WritePacket(stack.NetworkParams{Protocol: stack.ProtocolUDP}, p)
}
