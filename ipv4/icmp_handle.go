package ipv4

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// replyHeadroom is the headroom an inbound packet needs to be turned into
// its echo reply in place: our header plus the link layer's (virtio-net,
// Ethernet, two VLAN tags). With less, the reply is copied.
const replyHeadroom = HeaderLen + 12 + 14 + 8

// handleICMP processes an inbound ICMP message (p's data starts at the ICMP
// header; p.Src, p.Dst are set). It takes ownership of p.
func (pr *Protocol) handleICMP(p *stack.Packet) {
	c := &pr.c
	m := ICMP(p.Bytes())
	switch m.Validate() {
	case nil:
	case ErrICMPTooShort:
		c.icmpRxTooShort.Inc()
		p.Release()
		return
	default:
		c.icmpRxBadChecksum.Inc()
		p.Release()
		return
	}
	switch m.Type() {
	case ICMPEcho:
		c.icmpRxEchoRequest.Inc()
		pr.handleEcho(p, m)
		return
	case ICMPEchoReply:
		c.icmpRxEchoReply.Inc()
		// A ping client may wait for it (SetEchoReplyHandler).
		if h := pr.EchoReplyHandler(); h != nil {
			h.HandleEchoReply(p)
			return
		}
	case ICMPDestUnreach:
		c.icmpRxDestUnreach.Inc()
		pr.handleICMPError(m)
	case ICMPTimeExceeded:
		c.icmpRxTimeExceeded.Inc()
		pr.handleICMPError(m)
	case ICMPParamProblem:
		c.icmpRxParamProblem.Inc()
		pr.handleICMPError(m)
	case ICMPSourceQuench:
		// Deprecated (RFC 6633): ignored.
		c.icmpRxSourceQuench.Inc()
	case ICMPRedirect:
		// A host with one router per subnet ignores redirects.
		c.icmpRxRedirect.Inc()
	default:
		c.icmpRxUnhandled.Inc()
	}
	p.Release()
}

// usableSource reports whether a can be the destination of a reply or an
// error: not unspecified, multicast or broadcast (RFC 1122 3.2.2).
func usableSource(nic *stack.NIC, a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && a != limitedBroadcast &&
		(nic == nil || !nic.IsBroadcast(a))
}

// handleEcho answers an echo request with a reply carrying the same id,
// sequence number and data, built in place in p. It takes ownership of p.
func (pr *Protocol) handleEcho(p *stack.Packet, m ICMP) {
	c := &pr.c
	local := pr.s.IsLocalAddress(p.Dst)
	if !local && pr.relayEcho(p.NIC, p.Src, p.Dst, m) {
		p.Release()
		return
	}
	spoof := !local && pr.forwardedEcho(p.NIC, p.Src, p.Dst)
	if !local && !spoof && !pr.opts.EchoBroadcast {
		c.icmpRxEchoBroadcastIgnored.Inc()
		p.Release()
		return
	}
	if !usableSource(p.NIC, p.Src) {
		c.icmpRxBadEchoSource.Inc()
		p.Release()
		return
	}
	var from netip.Addr
	if local || spoof {
		from = p.Dst
	}
	r, err := pr.routeFrom(p.Src, from)
	if err != nil {
		c.icmpTxNoRoute.Inc()
		p.Release()
		return
	}
	params := stack.NetworkParams{Protocol: stack.ProtocolICMP}
	// Record route and timestamp options are reflected, with us added
	// (RFC 1122 3.2.2.6; echo_options.go).
	var optBuf [MaxHeaderLen - HeaderLen]byte
	nOpts := 0
	if nh := Header(p.NetworkHeader()); len(nh) > 1 {
		params.TOS = nh[1]
		if len(nh) >= HeaderLen && nh.HeaderLength() > HeaderLen && len(nh) >= nh.HeaderLength() {
			nOpts = echoOptions(&optBuf, nh.Options(), r.LocalAddr, pr.s.Clock().Now(), pr.s)
		}
	}
	if p.Headroom() < replyHeadroom+nOpts {
		q := stack.NewPacket(stack.Headroom, p.Len())
		copy(q.Bytes(), p.Bytes())
		p.Release()
		p = q
		m = ICMP(q.Bytes())
	}
	m.SetType(ICMPEchoReply)
	p.ChecksumOK, p.ChecksumPartial, p.GSOSize = false, false, 0
	c.icmpTxEchoReply.Inc() // before it leaves, as Linux's icmp_reply counts it: the pinger may see it first
	pr.writePacketOptions(&r, params, optBuf[:nOpts], p)
}

// handleICMPError passes an inbound ICMP error about a packet we sent to
// the transport that sent it.
func (pr *Protocol) handleICMPError(m ICMP) {
	c := &pr.c
	q := Header(m.Payload())
	// The quoted header has been through routers: check only what we
	// need to find the transport and the 8 quoted bytes after it.
	if len(q) < HeaderLen || q[0]>>4 != Version || q.HeaderLength() < HeaderLen || len(q) < q.HeaderLength()+8 {
		c.icmpRxBadQuote.Inc()
		return
	}
	src := q.Src()
	if !pr.s.IsLocalAddress(src) {
		c.icmpRxErrorNotOurs.Inc()
		return
	}
	t := pr.s.Transport(q.Protocol())
	if t == nil {
		c.icmpRxErrorNoTransport.Inc()
		return
	}
	e := stack.TransportError{
		Type:      m.Type(),
		Code:      m.Code(),
		Src:       src,
		Dst:       q.Dst(),
		Transport: q[q.HeaderLength():],
	}
	switch m.Type() {
	case ICMPTimeExceeded:
		e.Kind = stack.ErrorTimeExceeded
	case ICMPParamProblem:
		e.Kind = stack.ErrorParameterProblem
	default:
		e.Kind = unreachKind(m.Code())
		if m.Code() == CodeFragmentationNeeded {
			e.MTU = int(m.MTU())
			if e.MTU == 0 {
				e.MTU = plateauMTU(int(q.TotalLength()))
			}
		}
	}
	t.HandleError(e)
}

// unreachKind maps a destination-unreachable code to an error kind.
func unreachKind(code uint8) stack.ErrorKind {
	switch code {
	case CodeNetUnreachable, CodeNetUnknown, CodeNetUnreachableTOS:
		return stack.ErrorNetUnreachable
	case CodeProtocolUnreachable:
		return stack.ErrorProtocolUnreachable
	case CodePortUnreachable:
		return stack.ErrorPortUnreachable
	case CodeFragmentationNeeded:
		return stack.ErrorFragmentationNeeded
	case CodeNetProhibited, CodeHostProhibited, CodeAdminProhibited:
		return stack.ErrorAdministrativelyProhibited
	default:
		return stack.ErrorHostUnreachable
	}
}

// plateauMTU guesses the next-hop MTU from an old router's frag-needed
// message without one: the next plateau below the quoted total length
// (RFC 1191 section 7).
func plateauMTU(totalLen int) int {
	for _, m := range [...]int{32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296} {
		if m < totalLen {
			return m
		}
	}
	return 68
}

// sendError sends an ICMP error of the given type and code about p, whose
// network header is marked, quoting its IP header and the first 8 bytes of
// its payload. It follows RFC 1122 3.2.2 and RFC 1812 4.3.2.7: no error
// about an ICMP error, a broadcast or multicast destination, a non-initial
// fragment, or a source that is not a unicast host; and errors are rate
// limited. It does not take ownership of p.
func (pr *Protocol) sendError(p *stack.Packet, typ, code uint8, rest uint32) {
	c := &pr.c
	nh := Header(p.NetworkHeader())
	if len(nh) < HeaderLen || nh.HeaderLength() < HeaderLen || len(nh) < nh.HeaderLength() {
		c.icmpTxSuppressed.Inc()
		return
	}
	ihl := nh.HeaderLength()
	if tl := int(nh.TotalLength()); tl >= ihl && tl < len(nh) {
		nh = nh[:tl]
	}
	src, dst := nh.Src(), nh.Dst()
	nic := p.NIC
	switch {
	case nh.FragmentOffset() != 0,
		!usableSource(nic, src),
		dst.IsMulticast() || dst == limitedBroadcast || (nic != nil && nic.IsBroadcast(dst)),
		p.LinkDst[0]&1 != 0: // link-layer broadcast or multicast
		c.icmpTxSuppressed.Inc()
		return
	}
	if nh.Protocol() == stack.ProtocolICMP {
		if len(nh) <= ihl || nh[ihl] > ICMPTimestampReply+4 || IsICMPError(nh[ihl]) {
			c.icmpTxSuppressed.Inc()
			return
		}
	}
	if !pr.errRL.Allow(pr.s.Clock().Now()) {
		c.icmpTxRateLimited.Inc()
		return
	}
	var from netip.Addr
	if pr.s.IsLocalAddress(dst) || pr.any.on.Load() {
		from = dst // in the accept-any mode, the address the peer used
	}
	r, err := pr.routeFrom(src, from)
	if err != nil {
		c.icmpTxNoRoute.Inc()
		return
	}
	quote := min(len(nh), ihl+8)
	q := stack.NewPacket(stack.Headroom, ICMPHeaderLen+quote)
	f := ICMPFields{Type: typ, Code: code, Rest: rest, Payload: nh[:quote]}
	f.Encode(q.Bytes())
	// Errors travel with Internetwork Control precedence, like Linux.
	params := stack.NetworkParams{Protocol: stack.ProtocolICMP, TOS: 0xc0}
	if pr.writePacket(&r, params, q) != nil {
		return
	}
	switch typ {
	case ICMPDestUnreach:
		c.icmpTxDestUnreach.Inc()
	case ICMPTimeExceeded:
		c.icmpTxTimeExceeded.Inc()
	case ICMPParamProblem:
		c.icmpTxParamProb.Inc()
	default:
		c.icmpTxOtherError.Inc()
	}
}
