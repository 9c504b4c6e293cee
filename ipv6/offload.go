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
// with checksum offload); otherwise it is cut here into segments of
// GSOSize payload bytes, each with its own full checksum, as Linux's GSO
// does. The packet-too-big test of a super-segment is on the size of the
// segments it stands for.

// Offsets of the checksum fields in the TCP and UDP headers.
const (
	tcpCsumOff = 16
	udpCsumOff = 6
	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
)

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

// segment sends the TCP super-segment h (of p; hop limit already
// decremented; no extension headers) along r in segments of at most mss
// payload bytes, each a packet of its own with its payload length and TCP
// header (sequence number, FIN and PSH on the last segment only, CWR on the
// first only, a full checksum) rewritten. It does not take ownership of
// anything.
func (pr *Protocol) segment(r *stack.Route, p *stack.Packet, h Header, mss int) error {
	thl := int(h[HeaderLen+12]>>4) * 4
	hdrs := h[:HeaderLen+thl]
	payload := h[HeaderLen+thl:]
	seq := binary.BigEndian.Uint32(h[HeaderLen+4:])
	flags := h[HeaderLen+13]
	src, dst := h.Src(), h.Dst()
	var err error
	for i, off := 0, 0; off < len(payload) && err == nil; i, off = i+1, off+mss {
		chunk := payload[off:min(off+mss, len(payload))]
		q := stack.NewPacket(stack.Headroom, len(hdrs)+len(chunk))
		b := q.Bytes()
		copy(b, hdrs)
		copy(b[len(hdrs):], chunk)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-HeaderLen))
		t := b[HeaderLen:]
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
		err = r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv6, q)
	}
	return err
}
