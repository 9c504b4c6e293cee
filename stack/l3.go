package stack

// L3Link is implemented by link endpoints that carry bare IP packets, with
// no link-layer header and no link-layer addresses: a TUN device, an
// in-memory packet channel, a VPN tunnel. It is optional: an endpoint that
// does not implement it, or whose IsL3 reports false, is Ethernet-like.
//
// A NIC on an L3 endpoint (see NIC.IsL3) never resolves neighbours: it
// writes every packet at once, with the zero MAC as destination, whatever
// resolver is registered for the family; ARP neither answers nor probes on
// it. Inbound, the NIC takes a packet's EtherType from its IP version
// nibble (IPEtherType), so the endpoint need not set LinkSrc, LinkDst or
// EtherType.
type L3Link interface {
	// IsL3 reports whether the endpoint carries bare IP packets. It must
	// not change once the endpoint is added to a stack.
	IsL3() bool
}

// IsL3 reports whether ep is an L3 endpoint: it implements L3Link and its
// IsL3 reports true.
func IsL3(ep LinkEndpoint) bool {
	l, ok := ep.(L3Link)
	return ok && l.IsL3()
}

// IsL3 reports whether the NIC's endpoint carries bare IP packets (see
// L3Link): then it has no neighbours to resolve and no ARP or NDP
// link-layer options, and LinkAddress is meaningless.
func (n *NIC) IsL3() bool { return n.l3 }

// IPEtherType returns the EtherType of the bare IP packet b from its
// version nibble: EtherTypeIPv4 for 4, EtherTypeIPv6 for 6, and 0 (which no
// protocol claims) for anything else, an empty b included.
func IPEtherType(b []byte) uint16 {
	if len(b) == 0 {
		return 0
	}
	switch b[0] >> 4 {
	case 4:
		return EtherTypeIPv4
	case 6:
		return EtherTypeIPv6
	}
	return 0
}
