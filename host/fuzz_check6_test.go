package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

// fzCheckIPv6 checks an IPv6 packet we sent (RFC 8200, RFC 4443, RFC
// 4861, RFC 3810), computing everything independently of the stack:
//   - a well-formed header whose payload length fits the frame, a hop
//     limit, never a multicast, loopback or unspecified destination nor a
//     multicast or loopback source;
//   - a forwarded packet (its payload delivered to us verbatim) must not
//     have a link-local source or destination (RFC 4291 2.5.6) nor a
//     multicast destination of link-local scope;
//   - a packet we made has one of our addresses as source (or :: for DAD,
//     router solicitations and MLD reports), no routing header, an
//     extension chain that ends in ICMPv6, TCP or UDP, and, unless it is
//     a fragment, the right ICMPv6, TCP or UDP checksum over the IPv6
//     pseudo-header (UDP's never zero);
//   - Neighbour Discovery goes with hop limit 255, MLD with hop limit 1;
//     advertisements come from a link-local address, neighbour
//     advertisements are for our addresses, solicited ones never to a
//     group, solicitations never for a group;
//   - an ICMPv6 error fits in 1280 bytes, goes to the source of the packet
//     it quotes, and is never about an ICMPv6 error or redirect, a packet
//     from :: or a multicast source, nor, except packet too big and
//     parameter problem code 2 pointing at an option of type 10xxxxxx
//     (RFC 4443 2.4(e)), a packet to an IPv6 multicast address or
//     received only as link-layer multicast;
//   - gopacket decodes it without error.
func fzCheckIPv6(b, p []byte, in [][]byte) error {
	if len(p) < 40 {
		return fmt.Errorf("IPv6 packet of %d bytes", len(p))
	}
	if v := p[0] >> 4; v != 6 {
		return fmt.Errorf("IP version %d in an IPv6 frame", v)
	}
	plen := int(binary.BigEndian.Uint16(p[4:6]))
	src, _ := netip.AddrFromSlice(p[8:24])
	dst, _ := netip.AddrFromSlice(p[24:40])
	hop := p[7]
	switch {
	case 40+plen > len(p):
		return fmt.Errorf("IPv6 payload length %d in %d bytes", plen, len(p)-40)
	case hop == 0:
		return errors.New("hop limit 0")
	case dst.IsUnspecified() || dst.IsLoopback():
		return fmt.Errorf("destination %v", dst)
	case src.IsMulticast() || src.IsLoopback():
		return fmt.Errorf("source %v", src)
	}
	if dst.IsMulticast() {
		if want := stack.MulticastMAC(dst); stack.MAC(b[0:6]) != want {
			return fmt.Errorf("multicast %v to MAC %v, want %v", dst, stack.MAC(b[0:6]), want)
		}
	}
	seg := p[40 : 40+plen]
	for _, f := range in {
		if !bytes.Contains(f, seg) {
			continue
		}
		// Forwarded (or echoed verbatim, as UDP from port 7 to port 7).
		if fzIsOurs6(src) {
			return nil
		}
		switch {
		case src.IsLinkLocalUnicast() || dst.IsLinkLocalUnicast():
			return fmt.Errorf("forwarded a packet from %v to %v (link-local scope, RFC 4291 2.5.6)", src, dst)
		case dst.IsInterfaceLocalMulticast() || dst.IsLinkLocalMulticast():
			return fmt.Errorf("forwarded a packet to %v", dst)
		}
		// The header it came with, if the frame holds it right before:
		// the hop limit must have gone down by one (RFC 8200 3).
		if i := bytes.Index(f, seg); i >= 40 && bytes.Equal(f[i-32:i], p[8:40]) && f[i-40]>>4 == 6 && f[i-33] != hop+1 {
			return fmt.Errorf("forwarded with hop limit %d, received with %d", hop, f[i-33])
		}
		return nil
	}
	if !fzIsOurs6(src) && !src.IsUnspecified() {
		return fmt.Errorf("source %v of a packet we made", src)
	}
	nh, upper, frag, err := fzChain6(p[6], seg, false)
	if err != nil {
		return err
	}
	if frag {
		// Every fragment but the last carries a multiple of 8 bytes
		// (RFC 8200 4.5).
		if more := upper[3]&1 != 0; more && (len(upper)-8)%8 != 0 {
			return fmt.Errorf("fragment with M set and %d bytes of data", len(upper)-8)
		}
		return fzDecodes(b[:link.EthernetHeaderLen+40+plen])
	}
	pseudo := fzSum(p[8:40], uint64(nh)+uint64(len(upper)))
	switch nh {
	case stack.ProtocolICMPv6:
		if len(upper) < 4 || fzFold(fzSum(upper, pseudo)) != 0xffff {
			return fmt.Errorf("bad ICMPv6 checksum (%d bytes)", len(upper))
		}
		if err := fzCheckICMPv6(p, upper, src, dst, hop, in); err != nil {
			return err
		}
	case stack.ProtocolTCP:
		if len(upper) < 20 || fzFold(fzSum(upper, pseudo)) != 0xffff {
			return fmt.Errorf("bad TCP checksum (%d bytes)", len(upper))
		}
	case stack.ProtocolUDP:
		switch {
		case len(upper) < 8:
			return fmt.Errorf("UDP datagram of %d bytes", len(upper))
		case int(binary.BigEndian.Uint16(upper[4:6])) != len(upper):
			return fmt.Errorf("UDP length %d in %d bytes", binary.BigEndian.Uint16(upper[4:6]), len(upper))
		case binary.BigEndian.Uint16(upper[6:8]) == 0:
			return errors.New("UDP checksum 0 over IPv6 (RFC 8200 8.1)")
		case fzFold(fzSum(upper, pseudo)) != 0xffff:
			return errors.New("bad UDP checksum")
		}
	default:
		return fmt.Errorf("next header %d in a packet we made", nh)
	}
	if src.IsUnspecified() && !(nh == stack.ProtocolICMPv6 && (upper[0] == 133 || upper[0] == 135 || upper[0] == 143)) {
		return fmt.Errorf("source :: on a packet of protocol %d type %d", nh, upper[0])
	}
	return fzDecodes(b[:link.EthernetHeaderLen+40+plen])
}

// fzChain6 walks the extension headers of seg, whose first header is nh,
// and returns the upper-layer protocol and its bytes. frag is true when
// the packet is a fragment (an atomic fragment, offset 0 without M, is
// walked through). quoted allows a truncated chain (it then returns 0 and
// no error) and a routing header.
func fzChain6(nh uint8, seg []byte, quoted bool) (uint8, []byte, bool, error) {
	for n := 0; ; n++ {
		switch nh {
		case 0, 60, 43, 44:
		default:
			return nh, seg, false, nil
		}
		if nh == 0 && n > 0 {
			return 0, nil, false, errors.New("hop-by-hop options after the first header")
		}
		if len(seg) < 8 {
			if quoted {
				return 0, nil, false, nil
			}
			return 0, nil, false, fmt.Errorf("extension header %d in %d bytes", nh, len(seg))
		}
		hl := 8 * (int(seg[1]) + 1)
		switch nh {
		case 44:
			hl = 8
			fo := binary.BigEndian.Uint16(seg[2:4])
			if fo != 0 && !quoted { // offset or M: a real fragment
				return nh, seg, true, nil
			}
		case 43:
			if !quoted {
				return 0, nil, false, errors.New("routing header in a packet we made")
			}
		}
		if hl > len(seg) {
			if quoted {
				return 0, nil, false, nil
			}
			return 0, nil, false, fmt.Errorf("extension header %d of %d bytes in %d", nh, hl, len(seg))
		}
		nh, seg = seg[0], seg[hl:]
	}
}

// fzCheckICMPv6 checks an ICMPv6 message m we made in packet p.
func fzCheckICMPv6(p, m []byte, src, dst netip.Addr, hop uint8, in [][]byte) error {
	typ, code := m[0], m[1]
	switch {
	case typ >= 133 && typ <= 137 && hop != 255:
		return fmt.Errorf("NDP type %d with hop limit %d", typ, hop)
	case (typ == 130 || typ == 131 || typ == 132 || typ == 143) && hop != 1:
		return fmt.Errorf("MLD type %d with hop limit %d", typ, hop)
	case typ == 134 && !src.IsLinkLocalUnicast():
		return fmt.Errorf("router advertisement from %v, not link-local (RFC 4861 6.1.2)", src)
	case typ == 135 && len(m) >= 24 && netip.AddrFrom16([16]byte(m[8:24])).IsMulticast():
		return fmt.Errorf("neighbour solicitation for a multicast target")
	case typ == 136 && len(m) >= 24 && !fzIsOurs6(netip.AddrFrom16([16]byte(m[8:24]))):
		return fmt.Errorf("neighbour advertisement for %v, not ours", netip.AddrFrom16([16]byte(m[8:24])))
	case typ == 136 && len(m) >= 24 && dst.IsMulticast() && m[4]&0x40 != 0:
		return fmt.Errorf("solicited neighbour advertisement to %v (RFC 4861 7.2.4)", dst)
	case typ >= 128:
		return nil
	}
	if len(p) > 1280 {
		return fmt.Errorf("ICMPv6 error of %d bytes, over the minimum MTU", len(p))
	}
	if len(m) < 8+40 {
		return nil // quotes too little to tell
	}
	q := m[8:]
	qsrc, _ := netip.AddrFromSlice(q[8:24])
	qdst, _ := netip.AddrFromSlice(q[24:40])
	exempt := typ == 2 || typ == 4 && code == 2
	if ptr := binary.BigEndian.Uint32(m[4:8]); typ == 4 && code == 2 && ptr < uint32(len(q)) && q[ptr]>>6 != 2 {
		exempt = false // only options of type 10xxxxxx earn the exception
	}
	switch {
	case q[0]>>4 != 6:
		return fmt.Errorf("ICMPv6 error %d/%d quoting version %d", typ, code, q[0]>>4)
	case qsrc.IsUnspecified() || qsrc.IsMulticast():
		return fmt.Errorf("ICMPv6 error %d/%d about a packet from %v", typ, code, qsrc)
	case dst != qsrc:
		return fmt.Errorf("ICMPv6 error %d/%d to %v about a packet from %v", typ, code, dst, qsrc)
	case qdst.IsMulticast() && !exempt:
		return fmt.Errorf("ICMPv6 error %d/%d about a packet to %v (RFC 4443 2.4(e))", typ, code, qdst)
	}
	qend := min(len(q), 40+int(binary.BigEndian.Uint16(q[4:6])))
	if qnh, qu, _, err := fzChain6(q[6], q[40:qend], true); err == nil && qnh == stack.ProtocolICMPv6 && len(qu) > 0 && (qu[0] < 128 || qu[0] == 137) {
		return fmt.Errorf("ICMPv6 error %d/%d about an ICMPv6 type %d (RFC 4443 2.4(e))", typ, code, qu[0])
	}
	if exempt {
		return nil
	}
	// Received only as link-layer multicast or broadcast? The hop limit of
	// the quote may differ from the frame's (forwarding), so look for the
	// rest.
	var seen, unicast bool
	for _, f := range in {
		if len(f) >= link.EthernetHeaderLen && bytes.Contains(f, q[8:]) && bytes.Contains(f, q[:7]) {
			seen = true
			unicast = unicast || f[0]&1 == 0
		}
	}
	if seen && !unicast {
		return fmt.Errorf("ICMPv6 error %d/%d about a packet received as link-layer multicast (RFC 4443 2.4(e))", typ, code)
	}
	return nil
}

// fzIsOurs6 reports whether a is one of the fuzz host's IPv6 addresses:
// a static one, or any with the EUI-64 interface identifier of one of
// its MACs (link-local and SLAAC).
func fzIsOurs6(a netip.Addr) bool {
	if fzIsOurs(a) {
		return true
	}
	b := a.As16()
	for _, m := range []stack.MAC{fzMAC0, fzMAC1} {
		if id := ndp.EUI64(m); bytes.Equal(b[8:], id[:]) {
			return true
		}
	}
	return false
}

// fzDecodes checks that gopacket decodes frame b without error.
func fzDecodes(b []byte) error {
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		return fmt.Errorf("gopacket: %v", el.Error())
	}
	return nil
}
