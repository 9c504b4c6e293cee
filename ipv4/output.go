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
// A packet longer than the route MTU (and not a GSO super-segment) fails
// with stack.ErrMessageTooLong: fragmentation is not implemented yet.
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
	if n > 0xffff || (n > r.MTU() && p.GSOSize == 0) {
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
	f.Encode(p.Push(HeaderLen))
	if r.Local {
		return pr.loopback(r.NIC, p)
	}
	c.txPackets.Inc()
	return r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv4, p)
}
