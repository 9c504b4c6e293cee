package ipv6

import (
	"encoding/binary"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/stack"
)

// Forwarding packets that arrived with offload metadata (see ipv4's
// forward_offload.go for the full story). A partial transport checksum
// goes out as it is only when the output device completes it; otherwise
// it is completed here. A TCP super-segment (GSO) goes out as it is only
// when the output device segments it (GSOMaxSize at least its length,
// with checksum offload); otherwise it is dropped and counted
// (ipv6.fwd.bad_gso): software segmentation of IPv6 super-segments is left
// to do. The packet-too-big test of a super-segment is on the size of the
// segments it stands for.

// Offsets of the checksum fields in the TCP and UDP headers.
const (
	tcpCsumOff = 16
	udpCsumOff = 6
)

// offloader returns the offload capabilities of the link endpoint under
// nic: (0, false) when it has none.
func offloader(nic *stack.NIC) (gsoMax int, csum bool) {
	if o, ok := nic.LinkEndpoint().(stack.Offloader); ok {
		return o.GSOMaxSize(), o.ChecksumOffload()
	}
	return 0, false
}

// gsoSegmentLen returns the IPv6 length of the largest segment a TCP
// super-segment h (no extension headers) with segment payload gso stands
// for, or 0 when h is not such a packet.
func gsoSegmentLen(h Header, gso int) int {
	if h.NextHeader() != stack.ProtocolTCP || len(h) < HeaderLen+20 {
		return 0
	}
	thl := int(h[HeaderLen+12]>>4) * 4
	if thl < 20 || len(h) < HeaderLen+thl {
		return 0
	}
	return min(len(h), HeaderLen+thl+gso)
}

// completeChecksum finishes the partial transport checksum of h (a TCP or
// UDP packet without extension headers whose checksum field holds the
// pseudo-header sum). It reports false for anything else, left alone.
func completeChecksum(h Header) bool {
	l4 := h[HeaderLen:]
	var off int
	switch h.NextHeader() {
	case stack.ProtocolTCP:
		off = tcpCsumOff
	case stack.ProtocolUDP:
		off = udpCsumOff
	default:
		return false
	}
	if len(l4) < off+2 {
		return false
	}
	c := checksum.Checksum(l4, 0)
	if c == 0 && h.NextHeader() == stack.ProtocolUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[off:], c)
	return true
}
