package ipv6

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// replyHeadroom is the headroom an inbound packet needs to be turned into
// its echo reply in place: our header plus the link layer's (virtio-net,
// Ethernet, two VLAN tags). With less, the reply is copied.
const replyHeadroom = HeaderLen + 12 + 14 + 8

// handleICMP processes an inbound ICMPv6 message (p's data starts at the
// ICMPv6 header; p.NIC, p.Src, p.Dst, p.TTL are set): echo requests and
// errors here, echo replies and other types to the stack.ICMPv6Handler
// registered for them. It takes ownership of p.
func (pr *Protocol) handleICMP(p *stack.Packet) {
	c := &pr.c
	m := ICMP(p.Bytes())
	if len(m) < ICMPHeaderLen {
		c.icmpRxTooShort.Inc()
		p.Release()
		return
	}
	if !p.ChecksumOK && m.Validate(p.Src, p.Dst) != nil {
		c.icmpRxBadChecksum.Inc()
		p.Release()
		return
	}
	switch typ := m.Type(); typ {
	case ICMPEchoRequest:
		c.icmpRxEchoRequest.Inc()
		pr.handleEcho(p, m)
		return
	case ICMPEchoReply:
		c.icmpRxEchoReply.Inc()
		// A ping client may register for replies.
		if h := pr.s.ICMPv6Handler(typ); h != nil {
			h.HandleICMPv6(p)
			return
		}
	case ICMPDestUnreach:
		c.icmpRxDestUnreach.Inc()
		pr.handleICMPError(m)
	case ICMPPacketTooBig:
		c.icmpRxPacketTooBig.Inc()
		pr.handleICMPError(m)
	case ICMPTimeExceeded:
		c.icmpRxTimeExceeded.Inc()
		pr.handleICMPError(m)
	case ICMPParamProblem:
		c.icmpRxParamProblem.Inc()
		pr.handleICMPError(m)
	default:
		if h := pr.s.ICMPv6Handler(typ); h != nil {
			c.icmpRxHandled.Inc()
			h.HandleICMPv6(p)
			return
		}
		c.icmpRxUnhandled.Inc()
	}
	p.Release()
}

// usableSource reports whether a can be the destination of a reply or an
// error: a unicast IPv6 address other than :: and ::1 (RFC 4443 2.4 e.6).
func usableSource(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && !a.IsUnspecified() && !a.IsMulticast()
}

// replyRoute returns the route for a reply or error to dst about a packet
// that arrived on nic, from our address from (zero: chosen). A link-local
// dst is answered out of the interface the packet came in on.
func (pr *Protocol) replyRoute(nic *stack.NIC, dst, from netip.Addr) (stack.Route, error) {
	if nic != nil && dst.IsLinkLocalUnicast() && !pr.s.IsLocalAddress(dst) {
		if !from.IsValid() {
			from = nic.SourceAddress6(dst)
			if !from.IsValid() {
				return stack.Route{}, stack.ErrAddressNotLocal
			}
		}
		return nic.LinkRoute(from, dst), nil
	}
	return pr.s.FindRoute(dst, from)
}

// handleEcho answers an echo request (RFC 4443 4.2) with a reply carrying
// the same identifier, sequence number and data, built in place in p. A
// request to a multicast group is answered from a unicast address of the
// interface it arrived on. It takes ownership of p.
func (pr *Protocol) handleEcho(p *stack.Packet, m ICMP) {
	c := &pr.c
	if !usableSource(p.Src) {
		c.icmpRxBadEchoSource.Inc()
		p.Release()
		return
	}
	var from netip.Addr
	switch {
	case !p.Dst.IsMulticast():
		from = p.Dst
	case p.NIC != nil:
		from = p.NIC.SourceAddress6(p.Src)
	}
	var r stack.Route
	var err error
	if !p.Dst.IsMulticast() && !pr.s.IsLocalAddress(p.Dst) {
		// Delivered in the accept-any mode (anydst.go).
		if pr.relayEcho(p.Src, p.Dst, m) {
			p.Release()
			return
		}
		if !pr.forwardedEcho(p.Src, p.Dst) {
			c.icmpRxEchoNotAnswered.Inc()
			p.Release()
			return
		}
		r, err = pr.spoofRoute(p.NIC, p.Src, p.Dst)
	} else {
		r, err = pr.replyRoute(p.NIC, p.Src, from)
	}
	if err != nil {
		c.icmpTxNoRoute.Inc()
		p.Release()
		return
	}
	params := stack.NetworkParams{Protocol: stack.ProtocolICMPv6}
	if nh := p.NetworkHeader(); len(nh) >= HeaderLen {
		params.TOS = Header(nh).TrafficClass()
	}
	if p.Headroom() < replyHeadroom {
		q := stack.NewPacket(stack.Headroom, p.Len())
		copy(q.Bytes(), p.Bytes())
		p.Release()
		p = q
		m = ICMP(q.Bytes())
	}
	m[0], m[1] = ICMPEchoReply, 0
	SetICMPChecksum(m, r.LocalAddr, r.RemoteAddr)
	p.ChecksumOK, p.ChecksumPartial, p.GSOSize = false, false, 0
	c.icmpTxEchoReply.Inc() // before it leaves: the pinger may see it first
	pr.WritePacket(&r, params, p)
}

// handleICMPError passes an inbound ICMPv6 error about a packet we sent to
// the transport that sent it, walking the quoted extension chain to find
// its header. A packet too big also lowers the path MTU towards the quoted
// destination (RFC 8201), whatever the quoted transport.
func (pr *Protocol) handleICMPError(m ICMP) {
	c := &pr.c
	q := Header(m.Payload())
	if len(q) < HeaderLen || q[0]>>4 != Version {
		c.icmpRxBadQuote.Inc()
		return
	}
	src, dst := q.Src(), q.Dst()
	if !pr.s.IsLocalAddress(src) {
		c.icmpRxErrorNotOurs.Inc()
		return
	}
	e := stack.TransportError{Type: m.Type(), Code: m.Code(), Src: src, Dst: dst}
	switch m.Type() {
	case ICMPPacketTooBig:
		e.Kind = stack.ErrorFragmentationNeeded
		e.MTU = int(min(max(m.MTU(), MinMTU), 0xffff))
		if pr.pmtu.learn(dst, e.MTU, pr.s.Clock().Now(), c.pmtuEvicted) {
			c.pmtuLearned.Inc()
		}
	case ICMPTimeExceeded:
		e.Kind = stack.ErrorTimeExceeded
	case ICMPParamProblem:
		e.Kind = stack.ErrorParameterProblem
		if m.Code() == CodeUnknownNextHeader {
			e.Kind = stack.ErrorProtocolUnreachable
		}
	default:
		e.Kind = unreachKind(m.Code())
	}
	proto, off, fragOff, ok := SkipChain(q)
	if !ok || fragOff != 0 || len(q) < off+8 {
		c.icmpRxBadQuote.Inc()
		return
	}
	t := pr.transport(proto)
	if t == nil {
		c.icmpRxErrorNoTransport.Inc()
		return
	}
	e.Transport = q[off:]
	t.HandleError(e)
}

// unreachKind maps a destination-unreachable code (RFC 4443 3.1) to an
// error kind.
func unreachKind(code uint8) stack.ErrorKind {
	switch code {
	case CodeNoRoute:
		return stack.ErrorNetUnreachable
	case CodePortUnreachable:
		return stack.ErrorPortUnreachable
	case CodeAdminProhibited, CodeSourcePolicy, CodeRejectRoute:
		return stack.ErrorAdministrativelyProhibited
	default:
		return stack.ErrorHostUnreachable
	}
}

// sendError sends an ICMPv6 error of the given type and code about p,
// whose network header is marked, quoting as much of it as fits in 1280
// bytes (RFC 4443 2.4 c). It follows RFC 4443 2.4 e: no error about an
// ICMPv6 error or a redirect, about a packet whose source is not a unicast
// address, or (unless toMulticast: packet too big, and parameter problem
// code 2 for an option of type 10xxxxxx) about a packet to a multicast
// address or link-layer multicast or broadcast; and errors are rate
// limited (2.4 f). It does not take ownership of p.
func (pr *Protocol) sendError(p *stack.Packet, typ, code uint8, rest uint32, toMulticast bool) {
	c := &pr.c
	nh := p.NetworkHeader()
	if len(nh) < HeaderLen || nh[0]>>4 != Version {
		c.icmpTxSuppressed.Inc()
		return
	}
	if l := HeaderLen + int(Header(nh).PayloadLength()); l < len(nh) {
		nh = nh[:l]
	}
	h := Header(nh)
	src, dst := h.Src(), h.Dst()
	switch {
	case !usableSource(src),
		!toMulticast && (dst.IsMulticast() || p.LinkDst.IsMulticast()):
		c.icmpTxSuppressed.Inc()
		return
	}
	if proto, off, _, ok := SkipChain(nh); ok && proto == stack.ProtocolICMPv6 {
		if off >= len(nh) || IsICMPError(nh[off]) || nh[off] == ICMPRedirect {
			c.icmpTxSuppressed.Inc()
			return
		}
	}
	if !pr.errRL.Allow(pr.s.Clock().Now()) {
		c.icmpTxRateLimited.Inc()
		return
	}
	var from netip.Addr
	spoof := false
	switch {
	case !dst.IsMulticast() && pr.s.IsLocalAddress(dst):
		from = dst
	case !dst.IsMulticast() && pr.any.on.Load():
		// In the accept-any mode, from the address the peer used.
		from, spoof = dst, true
	case dst.IsMulticast() && p.NIC != nil:
		// RFC 4443 2.2 c: about a packet to a group, from a unicast
		// address of the interface it arrived on.
		from = p.NIC.SourceAddress6(src)
	}
	var r stack.Route
	var err error
	if spoof {
		r, err = pr.spoofRoute(p.NIC, src, from)
	} else {
		r, err = pr.replyRoute(p.NIC, src, from)
	}
	if err != nil {
		c.icmpTxNoRoute.Inc()
		return
	}
	quote := min(len(nh), MaxErrorLen-HeaderLen-ICMPHeaderLen)
	q := stack.NewPacket(stack.Headroom, ICMPHeaderLen+quote)
	f := ICMPFields{Type: typ, Code: code, Rest: rest, Payload: nh[:quote]}
	f.Encode(q.Bytes(), r.LocalAddr, r.RemoteAddr)
	if pr.WritePacket(&r, stack.NetworkParams{Protocol: stack.ProtocolICMPv6}, q) != nil {
		return
	}
	switch typ {
	case ICMPDestUnreach:
		c.icmpTxDestUnreach.Inc()
	case ICMPPacketTooBig:
		c.icmpTxPacketTooBig.Inc()
	case ICMPTimeExceeded:
		c.icmpTxTimeExceeded.Inc()
	default:
		c.icmpTxParamProblem.Inc()
	}
}
