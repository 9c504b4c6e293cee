package ipv6

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// HandlePacket processes an inbound IPv6 packet whose data starts at the
// IPv6 header; it implements stack.NetworkProtocol and takes ownership of
// p.
func (pr *Protocol) HandlePacket(p *stack.Packet) { pr.handle(p, false) }

// handle is the inbound path; loopback says p was sent by us to one of our
// own addresses.
func (pr *Protocol) handle(p *stack.Packet, loopback bool) {
	c := &pr.c
	c.rxPackets.Inc()
	nic := p.NIC
	if !loopback && nic != nil && nic.MTU() < MinMTU {
		c.rxLinkMTUTooSmall.Inc()
		p.Release()
		return
	}
	p.MarkNetworkHeader()
	h := Header(p.Bytes())
	if err := h.Validate(); err != nil {
		switch err {
		case ErrTooShort:
			c.rxTooShort.Inc()
		case ErrBadVersion:
			c.rxBadVersion.Inc()
		default:
			c.rxBadPayloadLength.Inc()
		}
		p.Release()
		return
	}
	// Frames shorter than 60 bytes arrive padded: the payload length
	// says where the packet really ends.
	n := HeaderLen + int(h.PayloadLength())
	p.Trim(n)
	h = h[:n]
	src, dst := h.Src(), h.Dst()
	if martianSource(src, loopback) {
		c.rxMartianSource.Inc()
		p.Release()
		return
	}
	if martianDestination(dst, loopback) {
		c.rxMartianDst.Inc()
		p.Release()
		return
	}
	var local bool
	switch {
	case dst.IsMulticast():
		local = nic != nil && nic.IsMember(dst)
	case dst.IsLinkLocalUnicast() && nic != nil:
		// A link-local address belongs to its link: interfaces may share
		// one (VLANs of one MAC), and another link's is not ours here.
		local = nic.HasAddress(dst)
	default:
		local = pr.s.IsLocalAddress(dst) || pr.any.on.Load()
	}
	if !local {
		pr.forward(p, h)
		return
	}
	pr.deliverChain(p, h, Start(h))
}

// martianSource reports whether src is an impossible source (RFC 4291,
// Linux ip6_rcv_core): multicast, an IPv4-mapped address (RFC 4291
// 2.5.5.2), or the loopback address ::1 from a link.
func martianSource(src netip.Addr, loopback bool) bool {
	return src.IsMulticast() || src.Is4In6() || (!loopback && src.IsLoopback())
}

// martianDestination reports whether dst is an impossible destination: the
// unspecified address, an IPv4-mapped one, multicast of the reserved scope
// 0, and, from a link, ::1 and interface-local multicast (ff01::/16).
func martianDestination(dst netip.Addr, loopback bool) bool {
	if dst.IsUnspecified() || dst.Is4In6() {
		return true
	}
	if dst.IsMulticast() && dst.As16()[1]&0x0f == 0 {
		return true
	}
	return !loopback && (dst.IsLoopback() || dst.IsInterfaceLocalMulticast())
}

// deliverChain walks the extension headers of p (data at its validated,
// trimmed IPv6 header h, addressed to us) from pos, reassembles fragments
// and delivers the upper-layer packet. It takes ownership of p.
func (pr *Protocol) deliverChain(p *stack.Packet, h Header, pos ChainPos) {
	multicast := h.Dst().IsMulticast()
	fragSeen := false
	for {
		r := WalkChain(h, pos, multicast)
		if r.Err != nil {
			pr.chainDrop(p, r)
			return
		}
		pos = r.Pos
		if pos.Next != ProtoFragment {
			break
		}
		if fragSeen {
			// One fragment header per packet (RFC 8200 4.1).
			pr.c.rxBadExtHeader.Inc()
			p.Release()
			return
		}
		fragSeen = true
		q, qpos := pr.reassemble(p, h, pos)
		if q == nil {
			return
		}
		p, h, pos = q, Header(q.Bytes()), qpos
	}
	p.Src, p.Dst, p.Protocol, p.TTL, p.TOS = h.Src(), h.Dst(), pos.Next, h.HopLimit(), h.TrafficClass()
	p.Pull(pos.Off)
	p.MarkTransportHeader()
	pr.deliver(p, pos)
}

// chainDrop counts and drops a packet whose extension headers WalkChain
// refused, answering a parameter problem when it says so. It takes
// ownership of p.
func (pr *Protocol) chainDrop(p *stack.Packet, r ChainResult) {
	c := &pr.c
	switch r.Err {
	case ErrExtParamProblem:
		c.rxParamProblem.Inc()
		pr.sendError(p, ICMPParamProblem, r.Code, r.Pointer, r.ToMulticast)
	case ErrExtOptionDiscard:
		c.rxOptionDiscard.Inc()
	case ErrExtNoNextHeader:
		c.rxNoNextHeader.Inc()
	case ErrExtChainTooLong:
		c.rxExtChainTooLong.Inc()
	default:
		c.rxBadExtHeader.Inc()
	}
	p.Release()
}

// deliver hands a packet whose data starts at the upper-layer header
// (pos.Next at pos.Off of the network header) to ICMPv6 or to the
// registered transport, answering parameter problem (unknown next header)
// or port unreachable. It takes ownership of p.
func (pr *Protocol) deliver(p *stack.Packet, pos ChainPos) {
	c := &pr.c
	if pos.Next == stack.ProtocolICMPv6 {
		c.rxDelivered.Inc()
		pr.handleICMP(p)
		return
	}
	t := pr.transport(pos.Next)
	if t == nil {
		// RFC 8200 4: an unrecognised next header is answered with a
		// parameter problem, code 1, pointing at the field naming it.
		c.rxUnknownProtocol.Inc()
		pr.sendError(p, ICMPParamProblem, CodeUnknownNextHeader, uint32(pos.NextOff), false)
		p.Release()
		return
	}
	c.rxDelivered.Inc()
	if !t.HandlePacket(p) {
		c.rxNoPort.Inc()
		pr.sendError(p, ICMPDestUnreach, CodePortUnreachable, 0, false)
		p.Release()
	}
}

// HandleResolutionFailure is called when the next hop of p (whose data
// starts at the IPv6 header) did not answer Neighbour Discovery. When we
// originated p, its transport gets a host-unreachable error; when we
// forwarded it, its source hears address unreachable (RFC 4443 3.1, code
// 3). It implements stack.ResolutionFailureHandler and takes ownership of
// p.
func (pr *Protocol) HandleResolutionFailure(nic *stack.NIC, nextHop netip.Addr, p *stack.Packet) {
	pr.c.txResolutionFailed.Inc()
	h := Header(p.Bytes())
	if h.Validate() != nil {
		p.Release()
		return
	}
	h = h[:HeaderLen+int(h.PayloadLength())]
	if !pr.s.IsLocalAddress(h.Src()) {
		pr.c.fwdHostUnreachable.Inc()
		p.MarkNetworkHeader()
		pr.sendError(p, ICMPDestUnreach, CodeAddrUnreachable, 0, false)
		p.Release()
		return
	}
	proto, off, fragOff, ok := SkipChain(h)
	if t := pr.transport(proto); ok && fragOff == 0 && t != nil {
		t.HandleError(stack.TransportError{
			Kind:      stack.ErrorHostUnreachable,
			Src:       h.Src(),
			Dst:       h.Dst(),
			Transport: h[off:],
		})
	}
	p.Release()
}

// transport returns the transport protocol registered for next header
// n, or nil. IGMP (2) is an IPv4-only protocol, registered with the
// stack for IPv4 (IPv6 has MLD inside ICMPv6): over IPv6 it is an unknown
// next header, as in Linux, rather than a query that would make the host
// send IGMP reports for an IPv6 packet.
func (pr *Protocol) transport(n uint8) stack.TransportProtocol {
	if n == stack.ProtocolIGMP {
		return nil
	}
	return pr.s.Transport(n)
}
