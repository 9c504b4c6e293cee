package arp

import "github.com/tapstack/tapstack/stack"

// ARP on L3 links. A NIC on an endpoint without link-layer addressing (a
// TUN device, a packet channel: stack.NIC.IsL3) has no neighbours to
// resolve and no addresses to defend, as Linux's IFF_NOARP devices: the NIC
// itself writes every packet at once without asking the resolver, ARP
// packets that reach such a NIC are counted (CounterRxL3Link) and dropped
// unanswered, no gratuitous ARP announces its addresses, Probe finds no
// conflict at once, and nothing ARP would send goes out on it.

// CounterRxL3Link counts ARP packets that arrived on an L3 NIC, dropped.
const CounterRxL3Link = "arp.rx.l3_link"

// writeL3 sends pkt on the L3 NIC nic unresolved, as the NIC would, for a
// caller that hands ARP a packet for such a NIC.
func writeL3(nic *stack.NIC, etherType uint16, pkt *stack.Packet) error {
	return nic.WriteLinkPacket(stack.MAC{}, etherType, pkt)
}
