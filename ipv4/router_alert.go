package ipv4

import (
	"github.com/tapstack/tapstack/stack"
)

// WritePacketOptions is WritePacket with IP options in the header: opts is
// an encoded option list (a multiple of 4 bytes, at most 40), such as the
// Router Alert option (RFC 2113: 148, 4, 0, 0) that IGMP puts on every
// message (RFC 2236 2, RFC 3376 4). Packages that may not import ipv4 reach
// it by asserting an interface on s.IP(stack.EtherTypeIPv4). A malformed
// list fails with stack.ErrInvalid. It takes ownership of p.
func (pr *Protocol) WritePacketOptions(r *stack.Route, params stack.NetworkParams, opts []byte, p *stack.Packet) error {
	if len(opts)%4 != 0 || len(opts) > MaxHeaderLen-HeaderLen || ValidateOptions(opts) >= 0 {
		p.Release()
		return stack.ErrInvalid
	}
	return pr.writePacketOptions(r, params, opts, p)
}
