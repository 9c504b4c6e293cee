package ipv4

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// limitedBroadcast is 255.255.255.255.
var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// HandlePacket processes an inbound IPv4 packet whose data starts at the IP
// header; it implements stack.NetworkProtocol and takes ownership of p.
func (pr *Protocol) HandlePacket(p *stack.Packet) { pr.handle(p, false) }

// handle is the inbound path; loopback says p was sent by us to one of our
// own addresses (so a local source address is expected).
func (pr *Protocol) handle(p *stack.Packet, loopback bool) {
	c := &pr.c
	c.rxPackets.Inc()
	p.MarkNetworkHeader()
	h := Header(p.Bytes())
	if err := h.Validate(); err != nil {
		switch err {
		case ErrTooShort:
			c.rxTooShort.Inc()
		case ErrBadVersion:
			c.rxBadVersion.Inc()
		case ErrBadIHL:
			c.rxBadIHL.Inc()
		case ErrBadTotalLength:
			c.rxBadTotalLength.Inc()
		default:
			c.rxBadChecksum.Inc()
		}
		p.Release()
		return
	}
	// Frames shorter than 60 bytes arrive padded: the IP total length
	// says where the datagram really ends.
	tl := int(h.TotalLength())
	p.Trim(tl)
	h = h[:tl]

	src, dst := h.Src(), h.Dst()
	// Martians (RFC 1122 3.2.1.3, RFC 1812 5.3.7; see martian.go) are
	// dropped before delivery and forwarding alike, and before their
	// options could earn them an ICMP error (Linux's order too).
	if pr.martianSource(src, dst, loopback) {
		c.rxMartianSource.Inc()
		p.Release()
		return
	}
	if martianDestination(dst) {
		c.rxMartianDst.Inc()
		p.Release()
		return
	}
	if h.HeaderLength() > HeaderLen {
		// Options are validated, then ignored (see the package doc).
		if bad := ValidateOptions(h.Options()); bad >= 0 {
			c.rxBadOptions.Inc()
			pr.sendError(p, ICMPParamProblem, 0, PointerRest(uint8(HeaderLen+bad)))
			p.Release()
			return
		}
	}

	nic := p.NIC
	if dst.IsMulticast() {
		// A multicast datagram is ours when the receiving interface has
		// joined its group (224.0.0.1 always; RFC 1112 7.2). Others are
		// dropped; a router drops them in forward, which routes no
		// multicast.
		if nic == nil || !nic.IsMember(dst) {
			if pr.opts.Forwarding {
				pr.forward(p, h)
				return
			}
			c.rxNotMember.Inc()
			p.Release()
			return
		}
	} else if local := (nic != nil && nic.HasAddress(dst)) || pr.s.IsLocalAddress(dst); !local && dst != limitedBroadcast && (nic == nil || !nic.IsBroadcast(dst)) && !pr.any.on.Load() {
		pr.forward(p, h)
		return
	}
	if h.IsFragment() {
		if p = pr.reassemble(p, h); p == nil {
			return
		}
		p.MarkNetworkHeader()
		h = Header(p.Bytes())
	}
	p.Src, p.Dst, p.Protocol, p.TTL, p.TOS = src, dst, h.Protocol(), h.TTL(), h.TOS()
	// Options are covered by IHL and skipped.
	p.Pull(h.HeaderLength())
	p.MarkTransportHeader()
	pr.deliver(p, h.Protocol())
}

// deliver hands a packet whose data starts at the transport header to ICMP
// or to the registered transport, answering protocol or port unreachable.
// It takes ownership of p.
func (pr *Protocol) deliver(p *stack.Packet, proto uint8) {
	c := &pr.c
	if proto == stack.ProtocolICMP {
		c.rxDelivered.Inc()
		pr.handleICMP(p)
		return
	}
	t := pr.s.Transport(proto)
	if t == nil {
		c.rxUnknownProtocol.Inc()
		pr.sendError(p, ICMPDestUnreach, CodeProtocolUnreachable, 0)
		p.Release()
		return
	}
	c.rxDelivered.Inc()
	if !t.HandlePacket(p) {
		// The transport gave p back: nobody listens on that port.
		c.rxNoPort.Inc()
		pr.sendError(p, ICMPDestUnreach, CodePortUnreachable, 0)
		p.Release()
	}
}

// HandleResolutionFailure is called when the next hop of p (whose data
// starts at the IP header) did not answer ARP. When we originated p, its
// transport gets a host-unreachable error (no ICMP goes on the wire). It
// implements stack.ResolutionFailureHandler and takes ownership of p.
func (pr *Protocol) HandleResolutionFailure(nic *stack.NIC, nextHop netip.Addr, p *stack.Packet) {
	pr.c.txResolutionFailed.Inc()
	h := Header(p.Bytes())
	if len(h) < HeaderLen || h[0]>>4 != Version || h.HeaderLength() < HeaderLen || len(h) < h.HeaderLength() {
		p.Release()
		return
	}
	ihl := h.HeaderLength()
	end := int(h.TotalLength())
	if end > len(h) || end < ihl {
		end = len(h)
	}
	if !pr.s.IsLocalAddress(h.Src()) {
		pr.forwardedResolutionFailure(nic, nextHop, p)
		return
	}
	if t := pr.s.Transport(h.Protocol()); t != nil {
		t.HandleError(stack.TransportError{
			Kind:      stack.ErrorHostUnreachable,
			Src:       h.Src(),
			Dst:       h.Dst(),
			Transport: h[ihl:end],
		})
	}
	p.Release()
}

// forwardedResolutionFailure handles a packet we forwarded whose next hop
// did not resolve: its source hears ICMP host unreachable (RFC 1812
// 4.3.3.1), with the usual suppression rules and rate limit.
func (pr *Protocol) forwardedResolutionFailure(_ *stack.NIC, _ netip.Addr, p *stack.Packet) {
	pr.c.fwdHostUnreachable.Inc()
	p.MarkNetworkHeader()
	pr.sendError(p, ICMPDestUnreach, CodeHostUnreachable, 0)
	p.Release()
}
