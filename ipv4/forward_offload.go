package ipv4

import (
	"encoding/binary"

	"github.com/tapstack/tapstack/internal/checksum"
	"github.com/tapstack/tapstack/stack"
)

// Forwarding packets that arrived with offload metadata.
//
// A TAP with a virtio-net header hands us packets whose transport checksum
// is partial (NEEDS_CSUM: the field holds only the pseudo-header sum;
// Packet.ChecksumPartial is set on receive) and TCP super-segments of up
// to 64 KiB (GSO; Packet.GSOSize is the segment payload size the sender
// chose). Both are fine to deliver locally, but a router must not put them
// on a wire as they are:
//
//   - a partial checksum goes out as it is only when the output device
//     completes it (stack.Offloader.ChecksumOffload); otherwise forward
//     completes it in software, or before fragmenting;
//   - a super-segment goes out as it is only when the output device
//     segments it (GSOMaxSize at least its length, with checksum offload);
//     otherwise forward cuts it into segments of GSOSize payload bytes in
//     software, each with its own full checksum, like Linux's GSO.
//
// The MTU test of a super-segment (RFC 1191: fragmentation needed) is on
// the size of the segments it stands for, not on its own length.

// Offsets of the checksum fields in the TCP and UDP headers, and TCP flags.
const (
	tcpCsumOff = 16
	udpCsumOff = 6
	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

// gsoSegmentLen returns the IP length of the largest segment a TCP
// super-segment h with segment payload gso stands for, or 0 when h is not
// a well-formed TCP packet.
func gsoSegmentLen(h Header, gso int) int {
	ihl := h.HeaderLength()
	if h.Protocol() != stack.ProtocolTCP || h.IsFragment() || len(h) < ihl+20 {
		return 0
	}
	thl := int(h[ihl+12]>>4) * 4
	if thl < 20 || len(h) < ihl+thl {
		return 0
	}
	return min(len(h), ihl+thl+gso)
}

// completeChecksum finishes the partial transport checksum of h (a TCP or
// UDP packet, not a fragment, whose checksum field holds the pseudo-header
// sum): summing the whole transport segment with the field in place gives
// the final checksum. It reports false for another protocol or a short
// packet, which is then left alone.
func completeChecksum(h Header) bool {
	ihl := h.HeaderLength()
	l4 := h[ihl:]
	var off int
	switch h.Protocol() {
	case stack.ProtocolTCP:
		off = tcpCsumOff
	case stack.ProtocolUDP:
		off = udpCsumOff
	default:
		return false
	}
	if h.IsFragment() || len(l4) < off+2 {
		return false
	}
	c := checksum.Checksum(l4, 0)
	if c == 0 && h.Protocol() == stack.ProtocolUDP {
		c = 0xffff // zero means "no checksum" in UDP
	}
	binary.BigEndian.PutUint16(l4[off:], c)
	return true
}

// segment sends the TCP super-segment h (of p; TTL already decremented) along r
// in segments of at most mss payload bytes, each a packet of its own with
// its IP header (length, ID counting up from h's, checksum) and TCP header
// (sequence number, FIN and PSH on the last segment only, CWR on the first
// only, a full checksum) rewritten. It does not take ownership of
// anything.
func (pr *Protocol) segment(r *stack.Route, p *stack.Packet, h Header, mss int) error {
	ihl := h.HeaderLength()
	thl := int(h[ihl+12]>>4) * 4
	hdrs := h[:ihl+thl]
	payload := h[ihl+thl:]
	seq := binary.BigEndian.Uint32(h[ihl+4:])
	flags := h[ihl+13]
	id := h.ID()
	src, dst := h.Src(), h.Dst()
	var err error
	for i, off := 0, 0; off < len(payload) && err == nil; i, off = i+1, off+mss {
		chunk := payload[off:min(off+mss, len(payload))]
		q := stack.NewPacket(stack.Headroom, len(hdrs)+len(chunk))
		b := q.Bytes()
		copy(b, hdrs)
		copy(b[len(hdrs):], chunk)
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		binary.BigEndian.PutUint16(b[4:], id+uint16(i))
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], checksum.Checksum(b[:ihl], 0))
		t := b[ihl:]
		binary.BigEndian.PutUint32(t[4:], seq+uint32(off))
		fl := flags
		if off+len(chunk) < len(payload) {
			fl &^= tcpFlagFIN | tcpFlagPSH
		}
		if i > 0 {
			fl &^= tcpFlagCWR
		}
		t[13] = fl
		t[tcpCsumOff], t[tcpCsumOff+1] = 0, 0
		ph := checksum.PseudoHeader(src, dst, stack.ProtocolTCP, uint16(len(t)))
		binary.BigEndian.PutUint16(t[tcpCsumOff:], checksum.Checksum(t, ph))
		q.MarkNetworkHeader()
		q.NIC, q.LinkSrc, q.LinkDst, q.EtherType = p.NIC, p.LinkSrc, p.LinkDst, p.EtherType
		pr.c.fwdGSOSegments.Inc()
		pr.c.txPackets.Inc()
		err = r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv4, q)
	}
	return err
}
