package bond

import (
	"encoding/binary"
	"net/netip"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/lacp"
	"github.com/tapstack/tapstack/stack"
)

// Addr is an address of an interface on the bond, announced after a
// failover and used as the source of ARP monitor probes: VID is the VLAN
// of the interface (0 for the untagged one).
type Addr struct {
	VID    uint16
	Prefix netip.Prefix
}

var broadcast = stack.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// ethernet returns a packet holding an Ethernet header (with an 802.1Q
// tag when vid is not 0) and n bytes of payload, and the payload.
func ethernet(dst, src stack.MAC, vid uint16, etherType uint16, n int) (*stack.Packet, []byte) {
	hdr := 14
	if vid != 0 {
		hdr += 4
	}
	p := stack.NewPacket(stack.Headroom, hdr+n)
	b := p.Bytes()
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	if vid != 0 {
		binary.BigEndian.PutUint16(b[12:], stack.EtherTypeVLAN)
		binary.BigEndian.PutUint16(b[14:], vid&0x0fff)
	}
	binary.BigEndian.PutUint16(b[hdr-2:], etherType)
	return p, b[hdr:]
}

// arpFrame is an ARP packet (RFC 826) over Ethernet: op 1 request, 2 reply.
func arpFrame(dst, src stack.MAC, vid uint16, op uint16, sip netip.Addr, tha stack.MAC, tip netip.Addr) *stack.Packet {
	p, b := ethernet(dst, src, vid, stack.EtherTypeARP, 28)
	binary.BigEndian.PutUint16(b[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(b[2:], 0x0800) // IPv4
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	copy(b[8:14], src[:])
	s4, t4 := sip.As4(), tip.As4()
	copy(b[14:18], s4[:])
	copy(b[18:24], tha[:])
	copy(b[24:28], t4[:])
	return p
}

// gratuitousARP announces ip at mac as Linux does after a bond's
// failover (NETDEV_NOTIFY_PEERS, inetdev_send_gratuitous_arp): a
// broadcast ARP request whose sender and target are ip. Linux's
// arp_process takes a request with sender = target as gratuitous and
// overrides its neighbour entry at once; a gratuitous reply would also
// need the target MAC equal to the sender's.
func gratuitousARP(mac stack.MAC, vid uint16, ip netip.Addr) *stack.Packet {
	return arpFrame(broadcast, mac, vid, 1, ip, stack.MAC{}, ip)
}

// arpProbe is the ARP monitor's request for target from sip (zero:
// 0.0.0.0).
func arpProbe(mac stack.MAC, vid uint16, sip, target netip.Addr) *stack.Packet {
	if !sip.IsValid() {
		sip = netip.IPv4Unspecified()
	}
	return arpFrame(broadcast, mac, vid, 1, sip, stack.MAC{}, target)
}

// allNodes is ff02::1 and its Ethernet address.
var (
	allNodes    = netip.MustParseAddr("ff02::1")
	allNodesMAC = stack.MAC{0x33, 0x33, 0, 0, 0, 1}
)

// unsolicitedNA announces ip at mac (RFC 4861 7.2.6): a Neighbor
// Advertisement to all nodes with the Override flag and our link-layer
// address.
func unsolicitedNA(mac stack.MAC, vid uint16, ip netip.Addr) *stack.Packet {
	const icmpLen = 32
	p, b := ethernet(allNodesMAC, mac, vid, stack.EtherTypeIPv6, 40+icmpLen)
	b[0] = 0x60
	clear(b[1:4])
	binary.BigEndian.PutUint16(b[4:], icmpLen)
	b[6], b[7] = 58, 255
	src, dst := ip.As16(), allNodes.As16()
	copy(b[8:24], src[:])
	copy(b[24:40], dst[:])
	m := b[40:]
	m[0], m[1] = 136, 0
	clear(m[2:8])
	m[4] = 0x20 // Override
	copy(m[8:24], src[:])
	m[24], m[25] = 2, 1 // target link-layer address, 8 bytes
	copy(m[26:32], mac[:])
	binary.BigEndian.PutUint16(m[2:], checksum.Checksum(m, checksum.PseudoHeader(ip, allNodes, 58, icmpLen)))
	return p
}

// slowFrame wraps a Slow Protocols PDU (110 bytes) from src.
func slowFrame(src stack.MAC, encode func([]byte)) *stack.Packet {
	p, b := ethernet(lacp.SlowProtocolsMAC, src, 0, lacp.EtherType, lacp.PDULen)
	encode(b)
	return p
}
