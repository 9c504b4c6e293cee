package ipv4

import (
	"github.com/tapstack/tapstack/stack"
)

// WritePacket prepends an IPv4 header to p (whose data starts at the
// transport header) and sends it along r: looped back to our own inbound
// path when r.Local, else through r.NIC to r.NextHop. Transport checksums
// (and ChecksumPartial) are left alone. It implements stack.IPWriter and
// takes ownership of p.
//
// A packet longer than the route MTU (and not a GSO super-segment) is sent
// in fragments, unless params.DontFragment is set or its transport
// checksum is left to the device (ChecksumPartial): then it fails with
// stack.ErrMessageTooLong, and the transport should lower its segment size.
func (pr *Protocol) WritePacket(r *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	return pr.writePacket(r, params, p)
}

func (pr *Protocol) writePacket(r *stack.Route, params stack.NetworkParams, p *stack.Packet) error {
	c := &pr.c
	if r == nil || r.NIC == nil || !r.LocalAddr.Is4() || !r.RemoteAddr.Is4() {
		c.txInvalidRoute.Inc()
		p.Release()
		return stack.ErrNoRoute
	}
	n := p.Len() + HeaderLen
	fragment := n > r.MTU() && p.GSOSize == 0
	if n > 0xffff || (fragment && (params.DontFragment || p.ChecksumPartial || r.MTU() < 68)) {
		c.txTooLong.Inc()
		p.Release()
		return stack.ErrMessageTooLong
	}
	if p.Headroom() < HeaderLen {
		c.txNoHeadroom.Inc()
		p.Release()
		return stack.ErrInvalid
	}
	ttl := params.TTL
	if ttl == 0 {
		ttl = pr.opts.DefaultTTL
	}
	f := Fields{
		TOS:         params.TOS,
		TotalLength: uint16(n),
		ID:          uint16(pr.nextID.Add(1)),
		DF:          params.DontFragment,
		TTL:         ttl,
		Protocol:    params.Protocol,
		Src:         r.LocalAddr,
		Dst:         r.RemoteAddr,
	}
	if fragment {
		return pr.fragment(r, &f, p)
	}
	f.Encode(p.Push(HeaderLen))
	if r.Local {
		return pr.loopback(r.NIC, p)
	}
	c.txPackets.Inc()
	return r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv4, p)
}

// fragment sends p (data starting at the transport header) in fragments
// that fit r.MTU() (RFC 791), each in a packet of its own with header f
// (TotalLength, MF and FragOffset adjusted). It takes ownership of p.
func (pr *Protocol) fragment(r *stack.Route, f *Fields, p *stack.Packet) error {
	c := &pr.c
	data := p.Bytes()
	maxData := (r.MTU() - HeaderLen) &^ 7
	c.txFragmented.Inc()
	var err error
	for off := 0; off < len(data) && err == nil; off += maxData {
		chunk := data[off:min(off+maxData, len(data))]
		q := stack.NewPacket(stack.Headroom+HeaderLen, len(chunk))
		copy(q.Bytes(), chunk)
		f.TotalLength = uint16(HeaderLen + len(chunk))
		f.FragOffset = uint16(off)
		f.MF = off+len(chunk) < len(data)
		f.Encode(q.Push(HeaderLen))
		c.txFragments.Inc()
		c.txPackets.Inc()
		err = r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv4, q)
	}
	p.Release()
	return err
}
