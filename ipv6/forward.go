package ipv6

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// forwardHeadroom is the headroom a forwarded packet needs for the link
// layer to prepend its headers in place (virtio-net header, Ethernet, two
// VLAN tags). With less, the packet is copied.
const forwardHeadroom = 12 + 14 + 8

// forward handles a packet not addressed to us (data at its validated,
// trimmed IPv6 header h). Without Options.Forwarding it is counted and
// dropped, like a host. With it, the packet is routed (RFC 8200, RFC 4443):
// never a multicast, a link-local source or destination (answered with
// destination unreachable, beyond scope of source address, RFC 4443 3.1),
// or a packet sent to a link-layer multicast address; its hop-by-hop
// options are processed; hop-limit expiry is answered with time exceeded;
// no route with destination unreachable (no route); a packet larger than
// the out link's MTU with packet too big carrying that MTU (routers never
// fragment). The hop limit is decremented in place and the same packet is
// sent on, so forwarding allocates nothing. A packet may leave by the
// interface it came in on (no redirects are sent). It takes ownership of p.
func (pr *Protocol) forward(p *stack.Packet, h Header) {
	c := &pr.c
	if !pr.opts.Forwarding {
		c.rxNotForUs.Inc()
		p.Release()
		return
	}
	src, dst := h.Src(), h.Dst()
	switch {
	case dst.IsMulticast():
		c.fwdMulticast.Inc() // no multicast routing
		p.Release()
		return
	case p.LinkDst.IsMulticast():
		c.fwdLinkMulticast.Inc()
		p.Release()
		return
	case src.IsUnspecified() || src.IsLoopback():
		c.fwdBadSource.Inc()
		p.Release()
		return
	case dst.IsLinkLocalUnicast() || src.IsLinkLocalUnicast():
		// Link-local addresses never leave their link (RFC 4291 2.5.6).
		c.fwdLinkLocal.Inc()
		if !dst.IsLinkLocalUnicast() {
			pr.sendError(p, ICMPDestUnreach, CodeBeyondScope, 0, false)
		}
		p.Release()
		return
	}
	if h.NextHeader() == ProtoHopByHop {
		// Every node on the path processes hop-by-hop options (RFC
		// 8200 4.3).
		pos := Start(h)
		r := WalkChain(h, pos, false)
		if r.Err != nil && r.Pos.Off == HeaderLen {
			pr.chainDrop(p, r)
			return
		}
	}
	if h.HopLimit() <= 1 {
		c.fwdHopLimitExceeded.Inc()
		pr.sendError(p, ICMPTimeExceeded, CodeHopLimitExceeded, 0, false)
		p.Release()
		return
	}
	r, err := pr.s.FindRoute(dst, netip.Addr{})
	if err != nil || r.Local {
		c.fwdNoRoute.Inc()
		pr.sendError(p, ICMPDestUnreach, CodeNoRoute, 0, false)
		p.Release()
		return
	}
	mtu := r.MTU()
	if mtu < MinMTU {
		c.txLinkMTUTooSmall.Inc()
		p.Release()
		return
	}
	size := len(h)
	gso := int(p.GSOSize)
	if gso > 0 {
		if size = gsoSegmentLen(h, gso); size == 0 {
			c.fwdBadGSO.Inc()
			p.Release()
			return
		}
	}
	if size > mtu {
		c.fwdTooBig.Inc()
		pr.sendError(p, ICMPPacketTooBig, 0, uint32(mtu), true)
		p.Release()
		return
	}
	h.SetHopLimit(h.HopLimit() - 1)
	p.ChecksumOK = false
	gsoMax, csumOffload := r.NIC.Offloads()
	switch {
	case gso > 0 && csumOffload && gsoMax >= len(h) && p.ChecksumPartial:
		c.fwdGSOPassed.Inc() // the device segments and checksums it
	case gso > 0:
		// The out device does not segment: do it here (offload.go).
		c.fwdGSOSegmented.Inc()
		c.fwdForwarded.Inc()
		_ = pr.segment(&r, p, h, gso)
		p.Release()
		return
	case p.ChecksumPartial && csumOffload:
		c.fwdCsumOffloaded.Inc()
	case p.ChecksumPartial:
		if completeChecksum(h) {
			c.fwdCsumCompleted.Inc()
		}
		p.ChecksumPartial = false
	}
	if p.Headroom() < forwardHeadroom {
		q := stack.NewPacket(stack.Headroom, p.Len())
		copy(q.Bytes(), p.Bytes())
		q.NIC, q.LinkSrc, q.LinkDst, q.EtherType = p.NIC, p.LinkSrc, p.LinkDst, p.EtherType
		q.ChecksumPartial, q.GSOSize = p.ChecksumPartial, p.GSOSize
		p.Release()
		p = q
		p.MarkNetworkHeader()
	}
	c.fwdForwarded.Inc()
	c.txPackets.Inc()
	// The NIC, link addresses and marked network header stay: they are
	// what an address unreachable needs should the next hop not resolve
	// (HandleResolutionFailure).
	_ = r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv6, p)
}
