package host

import (
	"encoding/binary"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// fzFixChecksums returns f, or a copy of it with the IPv4 header checksum
// and the ICMP, TCP or UDP checksum of an unfragmented packet set right,
// or with the ICMPv6, TCP or UDP checksum of an IPv6 packet set right
// (after hop-by-hop, destination options and routing headers; not in
// fragments). A zero UDP checksum, "none", is left alone. Lengths are not
// touched.
func fzFixChecksums(f []byte) []byte {
	if len(f) >= link.EthernetHeaderLen+40 && binary.BigEndian.Uint16(f[12:14]) == stack.EtherTypeIPv6 {
		return fzFixChecksums6(f)
	}
	if len(f) < link.EthernetHeaderLen+20 || binary.BigEndian.Uint16(f[12:14]) != stack.EtherTypeIPv4 {
		return f
	}
	b := append([]byte(nil), f...)
	p := b[link.EthernetHeaderLen:]
	ihl := int(p[0]&0xf) * 4
	if p[0]>>4 != 4 || ihl < 20 || ihl > len(p) {
		return b
	}
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:12], ^fzFold(fzSum(p[:ihl], 0)))
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if total < ihl || total > len(p) || binary.BigEndian.Uint16(p[6:8])&0x3fff != 0 {
		return b
	}
	seg := p[ihl:total]
	var off int
	switch p[9] {
	case stack.ProtocolICMP:
		off = 2
	case stack.ProtocolTCP:
		off = 16
	case stack.ProtocolUDP:
		off = 6
		if len(seg) < 8 || seg[6] == 0 && seg[7] == 0 {
			return b
		}
		if n := int(binary.BigEndian.Uint16(seg[4:6])); n >= 8 && n < len(seg) {
			seg = seg[:n]
		}
	default:
		return b
	}
	if len(seg) < off+2 {
		return b
	}
	seg[off], seg[off+1] = 0, 0
	var sum uint64
	if p[9] != stack.ProtocolICMP {
		sum = fzSum(p[12:20], uint64(p[9])+uint64(len(seg)))
	}
	c := ^fzFold(fzSum(seg, sum))
	if c == 0 && p[9] == stack.ProtocolUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:off+2], c)
	return b
}

// fzFixChecksums6 is fzFixChecksums for an IPv6 frame.
func fzFixChecksums6(f []byte) []byte {
	p := f[link.EthernetHeaderLen:]
	plen := int(binary.BigEndian.Uint16(p[4:6]))
	if p[0]>>4 != 6 || 40+plen > len(p) {
		return f
	}
	nh, seg := p[6], p[40:40+plen]
	for nh == 0 || nh == 60 || nh == 43 {
		if len(seg) < 8 || 8*(int(seg[1])+1) > len(seg) {
			return f
		}
		nh, seg = seg[0], seg[8*(int(seg[1])+1):]
	}
	var off int
	switch nh {
	case stack.ProtocolICMPv6:
		off = 2
	case stack.ProtocolTCP:
		off = 16
	case stack.ProtocolUDP:
		off = 6
		if len(seg) < 8 || seg[6] == 0 && seg[7] == 0 {
			return f
		}
	default:
		return f
	}
	if len(seg) < off+2 {
		return f
	}
	b := append([]byte(nil), f...)
	seg = b[len(b)-len(p)+40+plen-len(seg) : len(b)-len(p)+40+plen]
	seg[off], seg[off+1] = 0, 0
	q := b[link.EthernetHeaderLen:]
	c := ^fzFold(fzSum(seg, fzSum(q[8:40], uint64(nh)+uint64(len(seg)))))
	if c == 0 && nh == stack.ProtocolUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:off+2], c)
	return b
}
