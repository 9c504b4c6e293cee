package ipv4

import (
	"encoding/binary"

	"github.com/tapstack/tapstack/internal/checksum"
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
	return pr.writePacketOptions(r, params, nil, p)
}

// writePacketOptions is writePacket with IP options (a multiple of 4
// bytes, at most 40) in the header.
func (pr *Protocol) writePacketOptions(r *stack.Route, params stack.NetworkParams, opts []byte, p *stack.Packet) error {
	c := &pr.c
	if r == nil || r.NIC == nil || !r.LocalAddr.Is4() || !r.RemoteAddr.Is4() {
		c.txInvalidRoute.Inc()
		p.Release()
		return stack.ErrNoRoute
	}
	hl := HeaderLen + len(opts)
	n := p.Len() + hl
	fragment := n > r.MTU() && p.GSOSize == 0
	if n > 0xffff || (fragment && (params.DontFragment || p.ChecksumPartial || r.MTU() < 68)) {
		c.txTooLong.Inc()
		p.Release()
		return stack.ErrMessageTooLong
	}
	if p.Headroom() < hl {
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
		ID:          pr.ident(params.DontFragment),
		DF:          params.DontFragment,
		TTL:         ttl,
		Protocol:    params.Protocol,
		Src:         r.LocalAddr,
		Dst:         r.RemoteAddr,
		Options:     opts,
	}
	if fragment {
		return pr.fragment(r, &f, p)
	}
	f.Encode(p.Push(hl))
	if r.Local {
		return pr.loopback(r.NIC, p)
	}
	c.txPackets.Inc()
	return r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv4, p)
}

// fragment sends p (data starting at the transport header) in fragments
// that fit r.MTU() (RFC 791), with the header f describes. It takes
// ownership of p.
func (pr *Protocol) fragment(r *stack.Route, f *Fields, p *stack.Packet) error {
	pr.c.txFragmented.Inc()
	var hdr [MaxHeaderLen]byte
	hl := f.HeaderLength()
	f.Encode(hdr[:hl])
	err := pr.sendFragments(r, hdr[:hl], p.Bytes(), 0, false)
	p.Release()
	return err
}

// sendFragments sends payload in fragments that fit r.MTU(), each in a
// packet of its own (RFC 791). hdr is the header of the first fragment;
// every fragment gets a copy with its total length, MF, offset and
// checksum rewritten, and the second and later ones have the options
// without the copied flag replaced by NOPs. baseOff is the offset of
// payload in the original datagram and lastMF the MF flag of its last
// byte (both non-zero when we re-fragment a fragment we forward). hdr is
// modified. It does not take ownership of anything.
func (pr *Protocol) sendFragments(r *stack.Route, hdr, payload []byte, baseOff int, lastMF bool) error {
	c := &pr.c
	hl := len(hdr)
	maxData := (r.MTU() - hl) &^ 7
	if maxData <= 0 {
		c.txTooLong.Inc()
		return stack.ErrMessageTooLong
	}
	flags := binary.BigEndian.Uint16(hdr[6:]) & 0xc000 // reserved and DF
	var err error
	for off := 0; off < len(payload) && err == nil; off += maxData {
		chunk := payload[off:min(off+maxData, len(payload))]
		q := stack.NewPacket(stack.Headroom+hl, len(chunk))
		copy(q.Bytes(), chunk)
		b := q.Push(hl)
		copy(b, hdr)
		binary.BigEndian.PutUint16(b[2:], uint16(hl+len(chunk)))
		fo := flags | uint16((baseOff+off)/8)&0x1fff
		if lastMF || off+len(chunk) < len(payload) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(b[6:], fo)
		b[10], b[11] = 0, 0
		binary.BigEndian.PutUint16(b[10:], checksum.Checksum(b, 0))
		c.txFragments.Inc()
		c.txPackets.Inc()
		err = r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv4, q)
		if off == 0 && hl > HeaderLen {
			clearUncopiedOptions(hdr[HeaderLen:])
		}
	}
	return err
}
