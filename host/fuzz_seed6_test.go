package host

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

// IPv6 seed frames, built byte by byte (gopacket cannot serialize every
// extension header) with checksums from fzSum.

var (
	fz6Peer01  = netip.MustParseAddr("fd00::1")   // fzPeer01 on eth0
	fz6LL01    = netip.MustParseAddr("fe80::1")   // fzPeer01's link-local
	fz6Peer19  = netip.MustParseAddr("fd00:1::9") // fzPeer19 on eth1
	fz6Ours0   = netip.MustParseAddr("fd00::2")
	fz6Ours1   = netip.MustParseAddr("fd00:1::2")
	fz6All     = netip.MustParseAddr("ff02::1")
	fz6Routers = netip.MustParseAddr("ff02::2")
)

// fzExt6 is one IPv6 extension header: its type and its bytes (the next
// header byte is filled in by fzIP6).
type fzExt6 struct {
	typ uint8
	b   []byte
}

// fzOpts6 is a hop-by-hop (typ 0) or destination options (typ 60) header
// holding the TLV options opts, padded with PadN to a multiple of 8.
func fzOpts6(typ uint8, opts ...byte) fzExt6 {
	b := append([]byte{0, 0}, opts...)
	if pad := (8 - len(b)%8) % 8; pad == 1 {
		b = append(b, 0) // Pad1
	} else if pad > 1 {
		b = append(b, 1, byte(pad-2))
		b = append(b, make([]byte, pad-2)...)
	}
	b[1] = byte(len(b)/8 - 1)
	return fzExt6{typ, b}
}

// fzRouterAlert6 is a hop-by-hop header with the router alert option
// (value 0, MLD; RFC 2711).
func fzRouterAlert6() fzExt6 { return fzOpts6(0, 5, 2, 0, 0) }

// fzRouting6 is a routing header of type rtype with segsLeft and addrs.
func fzRouting6(rtype, segsLeft uint8, addrs ...netip.Addr) fzExt6 {
	b := []byte{0, byte(2 * len(addrs)), rtype, segsLeft, 0, 0, 0, 0}
	for _, a := range addrs {
		b = append(b, a.AsSlice()...)
	}
	return fzExt6{43, b}
}

// fzFragHdr6 is a fragment header at byte offset off (a multiple of 8).
func fzFragHdr6(off int, more bool, id uint32) fzExt6 {
	b := make([]byte, 8)
	fo := uint16(off)
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:4], fo)
	binary.BigEndian.PutUint32(b[4:8], id)
	return fzExt6{44, b}
}

// fzL4Sum6 returns upper, a proto message from src to dst, with its
// checksum set.
func fzL4Sum6(src, dst netip.Addr, proto uint8, upper []byte) []byte {
	off := map[uint8]int{stack.ProtocolICMPv6: 2, stack.ProtocolTCP: 16, stack.ProtocolUDP: 6}[proto]
	u := append([]byte(nil), upper...)
	if off == 0 || len(u) < off+2 {
		return u
	}
	u[off], u[off+1] = 0, 0
	s := fzSum(src.AsSlice(), fzSum(dst.AsSlice(), uint64(proto)+uint64(len(u))))
	c := ^fzFold(fzSum(u, s))
	if c == 0 && proto == stack.ProtocolUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[off:], c)
	return u
}

// fzIP6 is an Ethernet frame from srcMAC (to dstMAC, or for multicast
// dst its group MAC) carrying an IPv6 packet with exts then the proto
// payload upper, whose checksum it sets (unless a fragment header is
// among exts: the caller then passes upper already summed).
func fzIP6(dstMAC, srcMAC stack.MAC, src, dst netip.Addr, hop uint8, exts []fzExt6, proto uint8, upper []byte) []byte {
	frag := false
	for _, e := range exts {
		frag = frag || e.typ == 44
	}
	if !frag {
		upper = fzL4Sum6(src, dst, proto, upper)
	}
	if dst.IsMulticast() {
		dstMAC = stack.MulticastMAC(dst)
	}
	var body []byte
	for i, e := range exts {
		b := append([]byte(nil), e.b...)
		b[0] = proto
		if i+1 < len(exts) {
			b[0] = exts[i+1].typ
		}
		body = append(body, b...)
	}
	body = append(body, upper...)
	nh := proto
	if len(exts) > 0 {
		nh = exts[0].typ
	}
	f := make([]byte, link.EthernetHeaderLen+40, link.EthernetHeaderLen+40+len(body))
	copy(f[0:6], dstMAC[:])
	copy(f[6:12], srcMAC[:])
	binary.BigEndian.PutUint16(f[12:14], stack.EtherTypeIPv6)
	p := f[link.EthernetHeaderLen:]
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:6], uint16(len(body)))
	p[6], p[7] = nh, hop
	copy(p[8:24], src.AsSlice())
	copy(p[24:40], dst.AsSlice())
	return append(f, body...)
}

// fzFrom01 is fzIP6 from fzPeer01 to our eth0.
func fzFrom01(src, dst netip.Addr, hop uint8, exts []fzExt6, proto uint8, upper []byte) []byte {
	return fzIP6(fzMAC0, fzPeer01, src, dst, hop, exts, proto, upper)
}

func fzICMP6(typ, code uint8, body ...[]byte) []byte {
	return append([]byte{typ, code, 0, 0}, bytes.Join(body, nil)...)
}

func fzEcho6(id, seq uint16, data []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	return fzICMP6(128, 0, binary.BigEndian.AppendUint16(b, seq), data)
}

func fzLLA6(typ uint8, m stack.MAC) []byte { return append([]byte{typ, 1}, m[:]...) }

func fzNS6(target netip.Addr, opts ...[]byte) []byte {
	return fzICMP6(ndp.TypeNeighborSolicitation, 0, make([]byte, 4), target.AsSlice(), bytes.Join(opts, nil))
}

// fzNA6 is a neighbour advertisement with flags (0x80 R, 0x40 S, 0x20 O).
func fzNA6(flags byte, target netip.Addr, opts ...[]byte) []byte {
	return fzICMP6(ndp.TypeNeighborAdvertisement, 0, []byte{flags, 0, 0, 0}, target.AsSlice(), bytes.Join(opts, nil))
}

func fzRA6(lifetime uint16, opts ...[]byte) []byte {
	hdr := []byte{64, 0, byte(lifetime >> 8), byte(lifetime), 0, 0, 0x75, 0x30, 0, 0, 0x03, 0xe8}
	return fzICMP6(ndp.TypeRouterAdvertisement, 0, hdr, bytes.Join(opts, nil))
}

// fzPrefix6 is a prefix information option (flags 0x80 L, 0x40 A).
func fzPrefix6(p netip.Prefix, flags byte, valid, preferred uint32) []byte {
	b := []byte{3, 4, byte(p.Bits()), flags}
	b = binary.BigEndian.AppendUint32(b, valid)
	b = binary.BigEndian.AppendUint32(b, preferred)
	b = append(b, 0, 0, 0, 0)
	return append(b, p.Addr().AsSlice()...)
}

func fzMTU6(mtu uint32) []byte { return binary.BigEndian.AppendUint32([]byte{5, 1, 0, 0}, mtu) }

func fzRDNSS6(lifetime uint32, servers ...netip.Addr) []byte {
	b := binary.BigEndian.AppendUint32([]byte{25, byte(1 + 2*len(servers)), 0, 0}, lifetime)
	for _, s := range servers {
		b = append(b, s.AsSlice()...)
	}
	return b
}

// fzMLDQuery6 is an MLDv2 query (RFC 3810 5.1) for group (:: general).
func fzMLDQuery6(group netip.Addr, sources ...netip.Addr) []byte {
	b := append([]byte{0x03, 0xe8, 0, 0}, group.AsSlice()...)
	b = append(b, 2, 125)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sources)))
	for _, s := range sources {
		b = append(b, s.AsSlice()...)
	}
	return fzICMP6(130, 0, b)
}

func fzUDP6(sport, dport uint16, data []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(data)))
	return append(append(b, 0, 0), data...)
}

// fzTCP6 is a TCP segment with flags (0x02 SYN, 0x10 ACK, 0x08 PSH,
// 0x01 FIN) and, on a SYN, an MSS option of 1440.
func fzTCP6(sport, dport uint16, seq, ack uint32, flags byte, data []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, ack)
	off := byte(5 << 4)
	if flags&0x02 != 0 {
		off = 6 << 4
	}
	b = append(b, off, flags, 0xff, 0xff, 0, 0, 0, 0)
	if flags&0x02 != 0 {
		b = append(b, 2, 4, 0x05, 0xa0)
	}
	return append(b, data...)
}

// fzFrags6 cuts the summed upper-layer message upper from src to dst into
// fragments of size bytes (a multiple of 8), each with exts before its
// fragment header.
func fzFrags6(src, dst netip.Addr, id uint32, size int, proto uint8, upper []byte) [][]byte {
	upper = fzL4Sum6(src, dst, proto, upper)
	var out [][]byte
	for off := 0; off < len(upper); off += size {
		end := min(off+size, len(upper))
		out = append(out, fzFrom01(src, dst, 64, []fzExt6{fzFragHdr6(off, end < len(upper), id)}, proto, upper[off:end]))
	}
	return out
}

func fzSeeds6(tb testing.TB) [][]byte {
	solicit := stack.SolicitedNodeAddress(fz6Ours0)
	ourLL := ndp.LinkLocal(fzMAC0).Addr()
	const icmp, tcpP, udpP = stack.ProtocolICMPv6, stack.ProtocolTCP, stack.ProtocolUDP
	ns := fzFrame{b: fzFrom01(fz6Peer01, solicit, 255, nil, icmp, fzNS6(fz6Ours0, fzLLA6(1, fzPeer01)))}
	// The same from fe80::1, so that answers to it need no resolution.
	nsLL := fzFrame{b: fzFrom01(fz6LL01, solicit, 255, nil, icmp, fzNS6(fz6Ours0, fzLLA6(1, fzPeer01)))}
	echo := fzFrom01(fz6Peer01, fz6Ours0, 64, nil, icmp, fzEcho6(7, 1, []byte("ping6")))
	na := fzFrame{b: fzFrom01(fz6Peer01, fz6Ours0, 255, nil, icmp, fzNA6(0x60, fz6Peer01, fzLLA6(2, fzPeer01)))}
	na19 := fzFrame{eth1: true, step: 1, b: fzIP6(fzMAC1, fzPeer19, fz6Peer19, fz6Ours1, 255, nil, icmp, fzNA6(0x60, fz6Peer19, fzLLA6(2, fzPeer19)))}
	ra := fzFrom01(fz6LL01, fz6All, 255, nil, icmp, fzRA6(1800, fzLLA6(1, fzPeer01), fzMTU6(1400),
		fzPrefix6(netip.MustParsePrefix("fd00:5::/64"), 0xc0, 86400, 14400),
		fzPrefix6(netip.MustParsePrefix("fd00::/64"), 0x80, 86400, 14400),
		fzRDNSS6(600, netip.MustParseAddr("fd00::53"), netip.MustParseAddr("fd00:5::53"))))
	syn := fzFrame{b: fzFrom01(fz6Peer01, fz6Ours0, 64, nil, tcpP, fzTCP6(40000, 80, 1000, 0, 0x02, nil))}
	echoTo := func(dst netip.Addr, hop uint8, exts ...fzExt6) fzFrame {
		src := fz6Peer01
		if dst.IsMulticast() || dst.IsLinkLocalUnicast() {
			src = fz6LL01
		}
		return fzFrame{b: fzFrom01(src, dst, hop, exts, icmp, fzEcho6(8, 2, []byte("options")))}
	}

	udpMsg := fzUDP6(5353, 7, bytes.Repeat([]byte("fragmented "), 9))
	uf := fzFrags6(fz6Peer01, fz6Ours0, 0x10, 56, udpP, udpMsg)
	bigEcho := fzFrags6(fz6Peer01, fz6Ours0, 0x11, 1448, icmp, fzEcho6(9, 3, bytes.Repeat([]byte{0xa5}, 2000)))
	// Overlapping (RFC 5722): the second fragment starts inside the first.
	sum := fzL4Sum6(fz6Peer01, fz6Ours0, udpP, udpMsg)
	overlap := []fzFrame{
		{b: fzFrom01(fz6Peer01, fz6Ours0, 64, []fzExt6{fzFragHdr6(0, true, 0x12)}, udpP, sum[:56])},
		{b: fzFrom01(fz6Peer01, fz6Ours0, 64, []fzExt6{fzFragHdr6(48, false, 0x12)}, udpP, sum[48:])},
	}
	atomic := fzFrom01(fz6Peer01, fz6Ours0, 64, []fzExt6{fzFragHdr6(0, false, 0x13)}, icmp,
		fzL4Sum6(fz6Peer01, fz6Ours0, icmp, fzEcho6(10, 4, []byte("atomic"))))
	if len(uf) != 2 || len(bigEcho) != 2 {
		panic("seed datagrams are not cut in two fragments")
	}

	// A destination unreachable about a TCP segment we might have sent.
	quoted := fzFrom01(fz6Ours0, fz6Peer01, 64, nil, tcpP, fzTCP6(80, 40000, 1, 1, 0x10, nil))[link.EthernetHeaderLen:]
	unreach := fzFrom01(fz6Peer01, fz6Ours0, 64, nil, icmp, fzICMP6(1, 4, make([]byte, 4), quoted))
	redirect := fzFrom01(fz6LL01, ourLL, 255, nil, icmp, fzICMP6(ndp.TypeRedirect, 0, make([]byte, 4),
		netip.MustParseAddr("fe80::9").AsSlice(), netip.MustParseAddr("fd00:7::1").AsSlice(), fzLLA6(2, fzPeer05)))
	mldReport := fzFrom01(fz6LL01, netip.MustParseAddr("ff02::16"), 1, []fzExt6{fzRouterAlert6()}, icmp,
		fzICMP6(143, 0, []byte{0, 0, 0, 1, 4, 0, 0, 0}, solicit.AsSlice()))
	mldV1 := fzFrom01(fz6LL01, fz6All, 1, []fzExt6{fzRouterAlert6()}, icmp, fzICMP6(130, 0, []byte{0x03, 0xe8, 0, 0}, make([]byte, 16)))
	tooBig := make([]byte, link.EthernetHeaderLen+40+8)
	copy(tooBig, echo)
	tooBig[link.EthernetHeaderLen+5] = 200 // payload length beyond the frame

	seeds := [][]fzFrame{
		{ns},
		{ns, {b: echo}},
		{{b: echo}, na},
		{{b: echo}, {step: 5, b: echo}, {step: 7, b: echo}},
		{{b: fzFrom01(netip.IPv6Unspecified(), solicit, 255, nil, icmp, fzNS6(fz6Ours0))}}, // DAD probe for our address
		{{b: fzFrom01(fz6Peer01, fz6All, 255, nil, icmp, fzNA6(0x20, fz6Peer01, fzLLA6(2, fzPeer05)))}, {b: echo}},
		{{b: fzFrom01(fz6Peer01, fz6All, 255, nil, icmp, fzNA6(0x20, fz6Ours0, fzLLA6(2, fzPeer05)))}}, // someone claims our address
		{{b: fzFrom01(fz6LL01, fz6Routers, 255, nil, icmp, fzICMP6(ndp.TypeRouterSolicitation, 0, make([]byte, 4), fzLLA6(1, fzPeer01)))}},
		{{b: fzFrom01(netip.IPv6Unspecified(), fz6Routers, 255, nil, icmp, fzICMP6(ndp.TypeRouterSolicitation, 0, make([]byte, 4)))}},
		{{b: ra}, {step: 5, b: echo}},
		{{b: ra}, {step: 6, b: fzFrom01(fz6LL01, fz6All, 255, nil, icmp, fzRA6(0, fzPrefix6(netip.MustParsePrefix("fd00:5::/64"), 0xc0, 0, 0)))}},
		{ns, syn},
		{ns, {b: fzFrom01(fz6Peer01, fz6Ours0, 64, nil, udpP, fzUDP6(5353, 7, []byte("echo me")))}},
		{ns, {b: fzFrom01(fz6Peer01, fz6Ours0, 64, nil, udpP, fzUDP6(5353, 9, []byte("closed port")))}},
		{ns, {b: uf[0]}, {b: uf[1]}},
		{ns, {b: uf[1]}, {b: uf[0]}},
		{ns, {b: uf[0]}, {step: 7, b: uf[1]}},
		{ns, overlap[0], overlap[1]},
		{ns, {b: bigEcho[0]}, {b: bigEcho[1]}},
		{ns, {b: atomic}},
		{ns, {b: fzFrom01(fz6Peer01, fz6Ours0, 64, []fzExt6{fzRouterAlert6()}, udpP, fzUDP6(5353, 7, []byte("router alert")))}},
		{ns, echoTo(fz6Ours0, 64, fzOpts6(60, 0x1e, 2, 0, 0))}, // unknown option, action 00: skip
		{ns, echoTo(fz6Ours0, 64, fzOpts6(60, 0x5e, 2, 0, 0))}, // 01: discard
		{ns, echoTo(fz6Ours0, 64, fzOpts6(60, 0x9e, 2, 0, 0))}, // 10: discard, parameter problem
		{ns, echoTo(fz6Ours0, 64, fzOpts6(60, 0xde, 2, 0, 0))}, // 11: discard, parameter problem unless multicast
		{nsLL, echoTo(fz6All, 64, fzOpts6(60, 0x9e, 2, 0, 0))},
		{nsLL, echoTo(fz6All, 64, fzOpts6(60, 0xde, 2, 0, 0))},
		{ns, echoTo(fz6Ours0, 64, fzOpts6(60), fzOpts6(0))}, // hop-by-hop not first
		{ns, echoTo(fz6Ours0, 64, fzRouting6(0, 1, fz6Peer19))},
		{ns, echoTo(fz6Ours0, 64, fzRouting6(0, 0, fz6Peer19))},
		{ns, echoTo(fz6Ours0, 64, fzRouting6(2, 1, fz6Peer19))},
		{ns, echoTo(fz6Ours0, 64, fzRouting6(2, 0, fz6Peer19))},
		{ns, {b: fzFrom01(fz6Peer01, fz6Ours0, 64, nil, 253, []byte("experimental"))}},
		{ns, {b: fzFrom01(fz6Peer01, fz6Ours0, 64, nil, stack.ProtocolIGMP, []byte{0x11, 100, 0xee, 0x9b, 0, 0, 0, 0})}}, // IGMP is IPv4's
		{nsLL, echoTo(fz6All, 64)},
		{nsLL, echoTo(ourLL, 64)},
		{{b: fzFrom01(fz6LL01, fz6All, 1, []fzExt6{fzRouterAlert6()}, icmp, fzMLDQuery6(netip.IPv6Unspecified()))}},
		{{b: fzFrom01(fz6LL01, solicit, 1, []fzExt6{fzRouterAlert6()}, icmp, fzMLDQuery6(solicit))}},
		{{b: fzFrom01(fz6LL01, solicit, 1, []fzExt6{fzRouterAlert6()}, icmp, fzMLDQuery6(solicit, fz6Peer01))}},
		{{b: mldV1}},
		{{b: mldReport}},
		{ns, echoTo(fz6Peer19, 64), na19},
		{ns, {eth1: true, b: fzIP6(fzMAC1, fzPeer19, fz6Peer19, stack.SolicitedNodeAddress(fz6Ours1), 255, nil, icmp, fzNS6(fz6Ours1, fzLLA6(1, fzPeer19)))},
			{b: fzFrom01(fz6Peer01, fz6Peer19, 64, nil, udpP, fzUDP6(5353, 9, []byte("forward me")))}},
		{ns, echoTo(fz6Peer19, 1)},
		{ns, echoTo(netip.MustParseAddr("fd00:7::1"), 64)},
		{nsLL, {b: fzFrom01(fz6LL01, fz6Peer19, 64, nil, udpP, fzUDP6(5353, 9, []byte("link-local source")))}},
		{ns, {b: unreach}},
		// An error about which no error may be sent (RFC 4443 2.4(e)): an
		// ICMPv6 error with an option asking for a parameter problem, and
		// a unicast packet to a link-layer multicast address.
		{ns, {b: fzFrom01(fz6Peer01, fz6Ours0, 64, []fzExt6{fzOpts6(60, 0x9e, 2, 0, 0)}, icmp, fzICMP6(1, 4, make([]byte, 4), quoted))}},
		{ns, {b: fzIP6(fzBcast, fzPeer01, fz6Peer01, fz6Ours0, 64, []fzExt6{fzOpts6(60, 0xde, 2, 0, 0)}, icmp, fzEcho6(8, 3, []byte("broadcast")))}},
		{ns, {b: fzIP6(stack.MAC{0x33, 0x33, 0, 0, 0, 1}, fzPeer01, fz6Peer01, fz6Ours0, 64, nil, udpP, fzUDP6(5353, 9, []byte("multicast MAC")))}},
		{ns, {b: redirect}},
		{ns, {raw: true, b: fzCorrupt(echo, link.EthernetHeaderLen+40+2)}}, // bad ICMPv6 checksum
		{ns, {raw: true, b: tooBig}},
	}
	var out [][]byte
	for _, s := range seeds {
		out = append(out, fzEncode(s...))
	}
	return append(out, fzEncode(fzHandshake6(tb, ns, syn)...))
}

// fzHandshake6 is fzHandshake over IPv6.
func fzHandshake6(tb testing.TB, ns, syn fzFrame) []fzFrame {
	fh := newFzHost(tb)
	defer fh.h.Close()
	fh.deliver(ns)
	fh.deliver(syn)
	fh.w.mu.Lock()
	out := append([]fzOut(nil), fh.w.out...)
	fh.w.mu.Unlock()
	for _, o := range out {
		pkt := gopacket.NewPacket(o.b, layers.LayerTypeEthernet, gopacket.Default)
		seg, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || !seg.SYN || !seg.ACK {
			continue
		}
		req := []byte("GET / HTTP/1.0\r\n\r\n")
		return []fzFrame{ns, syn,
			{step: 1, b: fzFrom01(fz6Peer01, fz6Ours0, 64, nil, stack.ProtocolTCP, fzTCP6(40000, 80, 1001, seg.Seq+1, 0x18, req))},
			{step: 2, b: fzFrom01(fz6Peer01, fz6Ours0, 64, nil, stack.ProtocolTCP, fzTCP6(40000, 80, 1001+uint32(len(req)), seg.Seq+1, 0x11, nil))}}
	}
	tb.Fatalf("no IPv6 SYN-ACK among %d frames the host wrote", len(out))
	return nil
}
