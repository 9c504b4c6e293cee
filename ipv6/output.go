package ipv6

import (
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

// ErrLinkMTUTooSmall is returned for a packet along a route whose link
// carries less than the 1280 bytes IPv6 needs (RFC 8200 section 5).
var ErrLinkMTUTooSmall = stack.NewError("ipv6: link MTU below 1280: raise the interface MTU to use IPv6", syscall.ENETUNREACH)

// WritePacket prepends an IPv6 header to p (whose data starts at the
// transport header) and sends it along r: looped back to our own inbound
// path when r.Local, else through r.NIC to r.NextHop. params.TOS becomes
// the traffic class and params.TTL the hop limit (0: Options.DefaultHopLimit,
// or DefaultMulticastHopLimit to a multicast group, as Linux sockets do).
// Transport checksums (and ChecksumPartial) are left alone. It implements
// stack.IPWriter and takes ownership of p.
//
// A packet longer than the path MTU (RouteMTU; a GSO super-segment is
// never fragmented, the device segments it) is sent in fragments (RFC 8200
// 4.5), unless params.DontFragment is set or its transport checksum is
// left to the device (ChecksumPartial): then it fails with
// stack.ErrMessageTooLong, and the transport should lower its segment size.
func (pr *Protocol) WritePacket(r *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	c := &pr.c
	if err := pr.checkRoute(r); err != nil {
		p.Release()
		return err
	}
	if p.Len() > 0xffff {
		c.txTooLong.Inc()
		p.Release()
		return stack.ErrMessageTooLong
	}
	n := p.Len() + HeaderLen
	fragment := false
	var mtu int
	if n > MinMTU && p.GSOSize == 0 {
		mtu = pr.RouteMTU(r)
		fragment = n > mtu
	}
	if fragment && (params.DontFragment || p.ChecksumPartial) {
		c.txTooLong.Inc()
		p.Release()
		return stack.ErrMessageTooLong
	}
	if p.Headroom() < HeaderLen {
		c.txNoHeadroom.Inc()
		p.Release()
		return stack.ErrInvalid
	}
	f := Fields{
		TrafficClass:  params.TOS,
		PayloadLength: uint16(p.Len()),
		NextHeader:    params.Protocol,
		HopLimit:      pr.hopLimit(r, params),
		Src:           r.LocalAddr.WithZone(""),
		Dst:           r.RemoteAddr.WithZone(""),
	}
	if fragment {
		err := pr.fragment(r, &f, mtu, p.Bytes())
		p.Release()
		return err
	}
	f.Encode(p.Push(HeaderLen))
	return pr.send(r, p)
}

// checkRoute returns why r cannot carry IPv6 (counted), or nil.
func (pr *Protocol) checkRoute(r *stack.Route) error {
	if r == nil || r.NIC == nil || !r.LocalAddr.Is6() || !r.RemoteAddr.Is6() || r.RemoteAddr.Is4In6() {
		pr.c.txInvalidRoute.Inc()
		return stack.ErrNoRoute
	}
	if !r.Local && r.NIC.MTU() < MinMTU {
		pr.c.txLinkMTUTooSmall.Inc()
		return ErrLinkMTUTooSmall
	}
	return nil
}

// hopLimit is the hop limit of a packet along r: params.TTL, else
// DefaultMulticastHopLimit to a group, else Options.DefaultHopLimit.
func (pr *Protocol) hopLimit(r *stack.Route, params stack.NetworkParams) uint8 {
	switch {
	case params.TTL != 0:
		return params.TTL
	case r.RemoteAddr.IsMulticast():
		return DefaultMulticastHopLimit
	default:
		return pr.opts.DefaultHopLimit
	}
}

// send hands p (data at the IPv6 header) to the loopback or the NIC of r.
func (pr *Protocol) send(r *stack.Route, p *stack.Packet) error {
	if r.Local {
		return pr.loopback(r.NIC, p)
	}
	pr.c.txPackets.Inc()
	return r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv6, p)
}

// fragment sends payload (an upper-layer packet) in fragments of at most
// mtu bytes (RFC 8200 4.5): each a packet of its own with the header f
// describes followed by a fragment header; all but the last carry a
// multiple of 8 bytes. We originate no extension headers, so the
// unfragmentable part is the fixed header alone and the first fragment
// holds the whole upper-layer header (RFC 7112). The identification is
// drawn per destination (RFC 7739). It does not take ownership of
// anything.
func (pr *Protocol) fragment(r *stack.Route, f *Fields, mtu int, payload []byte) error {
	c := &pr.c
	maxData := (mtu - HeaderLen - FragmentHeaderLen) &^ 7
	if maxData <= 0 {
		c.txTooLong.Inc()
		return stack.ErrMessageTooLong
	}
	c.txFragmented.Inc()
	id := pr.ids.next(f.Src, f.Dst)
	proto := f.NextHeader
	f.NextHeader = ProtoFragment
	const hl = HeaderLen + FragmentHeaderLen
	var err error
	for off := 0; off < len(payload) && err == nil; off += maxData {
		chunk := payload[off:min(off+maxData, len(payload))]
		q := stack.NewPacket(stack.Headroom+hl, len(chunk))
		copy(q.Bytes(), chunk)
		b := q.Push(hl)
		f.PayloadLength = uint16(FragmentHeaderLen + len(chunk))
		f.Encode(b)
		EncodeFragmentHeader(b[HeaderLen:], proto, off, off+len(chunk) < len(payload), id)
		c.txFragments.Inc()
		err = pr.send(r, q)
	}
	return err
}
