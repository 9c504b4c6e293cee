package ipv6

import (
	"syscall"

	"github.com/tapstack/tapstack/stack"
)

// ErrBadHopByHop is returned by WriteWithHopByHop for a hop-by-hop header
// that is not a well-formed one: shorter than 8 bytes, not a multiple of 8,
// a length field that disagrees with its size, options that run past it or
// longer than MaxExtensionBytes.
var ErrBadHopByHop = stack.NewError("ipv6: malformed hop-by-hop options header", syscall.EINVAL)

// CheckHopByHop reports whether hbh is a well-formed Hop-by-Hop Options
// header to send (RFC 8200 4.3): at least 8 bytes, a multiple of 8, its
// Hdr Ext Len field saying so, at most MaxExtensionBytes, and options
// (Pad1 or type-length-value, at most 8 that are not padding, a Router
// Alert of 2 data bytes) that fill it exactly. Unknown option types are
// allowed: their action bits are for the receivers. The Next Header byte
// is not looked at.
func CheckHopByHop(hbh []byte) error {
	if len(hbh) < 8 || len(hbh)%8 != 0 || len(hbh) > MaxExtensionBytes || (int(hbh[1])+1)*8 != len(hbh) {
		return ErrBadHopByHop
	}
	if r := walkOptions(hbh, ChainPos{Off: HeaderLen}, false); r.Err == ErrExtBadOption {
		return ErrBadHopByHop
	}
	return nil
}

// WriteWithHopByHop is WritePacket with a Hop-by-Hop Options header: hbh
// (a complete header, see CheckHopByHop) goes between the IPv6 header and
// p's data, its Next Header byte set to params.Protocol, and the IPv6 Next
// Header is 0. MLD sends its reports through it with a Router Alert option
// (RFC 3810 5, RFC 2711); it implements mld.HopByHopWriter. hbh is copied,
// never modified. It takes ownership of p.
//
// The packet is never fragmented: one larger than the path MTU fails with
// stack.ErrMessageTooLong, as do GSO super-segments and packets whose
// checksum is left to the device (stack.ErrInvalid). A malformed hbh
// fails with ErrBadHopByHop (counted as ipv6.tx.bad_hop_by_hop).
func (pr *Protocol) WriteWithHopByHop(r *stack.Route, params stack.NetworkParams, hbh []byte, p *stack.Packet) error {
	c := &pr.c
	if err := pr.checkRoute(r); err != nil {
		p.Release()
		return err
	}
	if err := CheckHopByHop(hbh); err != nil {
		c.txBadHopByHop.Inc()
		p.Release()
		return err
	}
	if p.GSOSize != 0 || p.ChecksumPartial {
		c.txBadHopByHop.Inc()
		p.Release()
		return stack.ErrInvalid
	}
	payload := len(hbh) + p.Len()
	if payload > 0xffff || HeaderLen+payload > pr.RouteMTU(r) {
		c.txTooLong.Inc()
		p.Release()
		return stack.ErrMessageTooLong
	}
	if p.Headroom() < HeaderLen+len(hbh) {
		// Rare (MLD allocates stack.Headroom): copy into a packet with
		// room rather than fail.
		q := stack.NewPacket(stack.Headroom+len(hbh), p.Len())
		copy(q.Bytes(), p.Bytes())
		p.Release()
		p = q
	}
	h := p.Push(len(hbh))
	copy(h, hbh)
	h[0] = params.Protocol
	f := Fields{
		TrafficClass:  params.TOS,
		PayloadLength: uint16(payload),
		NextHeader:    ProtoHopByHop,
		HopLimit:      pr.hopLimit(r, params),
		Src:           r.LocalAddr.WithZone(""),
		Dst:           r.RemoteAddr.WithZone(""),
	}
	f.Encode(p.Push(HeaderLen))
	c.txHopByHop.Inc()
	return pr.send(r, p)
}
