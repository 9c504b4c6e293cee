package ipv4

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// forwardHeadroom is the headroom a forwarded packet needs for the link
// layer to prepend its headers in place (virtio-net header, Ethernet, two
// VLAN tags). With less, the packet is copied (never on the usual path: an
// inbound frame keeps at least the Ethernet header it arrived with plus
// the device's headroom).
const forwardHeadroom = 12 + 14 + 8

// forward handles a packet not addressed to us (data at its validated,
// trimmed IP header h). Without Options.Forwarding it is counted and
// dropped, like a host. With it, the packet is routed (RFC 1812 5.2, 5.3):
// never a multicast, broadcast or martian; TTL expiry answered with ICMP
// time exceeded; no route with net unreachable; too big with DF set with
// fragmentation needed and the next-hop MTU, without DF fragmented. The
// TTL is decremented with an incremental checksum update and the same
// packet is sent on, so forwarding allocates nothing. It takes ownership
// of p.
func (pr *Protocol) forward(p *stack.Packet, h Header) {
	c := &pr.c
	if !pr.opts.Forwarding {
		c.rxNotForUs.Inc()
		p.Release()
		return
	}
	src, dst := h.Src(), h.Dst()
	var drop *stack.Counter
	switch {
	case dst.IsMulticast():
		drop = c.fwdMulticast // no multicast routing
	case p.LinkDst.IsMulticast():
		// A link-layer broadcast or multicast carrying a unicast IP
		// packet must not be forwarded (RFC 1812 5.3.4).
		drop = c.fwdLinkBroadcast
	case pr.anyBroadcast(dst):
		// Directed broadcasts are not forwarded (RFC 2644).
		drop = c.fwdBroadcast
	case !forwardableSource(src) || pr.anyBroadcast(src):
		drop = c.fwdBadSource
	case !forwardableDestination(dst):
		drop = c.fwdBadDst
	case h.HeaderLength() > HeaderLen && hasSourceRoute(h.Options()):
		// Source routes are not honoured; Linux's default
		// (accept_source_route=0) drops them too.
		drop = c.fwdSourceRoute
	}
	if drop != nil {
		drop.Inc()
		p.Release()
		return
	}
	if h.TTL() <= 1 {
		c.fwdTTLExceeded.Inc()
		pr.sendError(p, ICMPTimeExceeded, CodeTTLExceeded, 0)
		p.Release()
		return
	}
	r, err := pr.s.FindRoute(dst, netip.Addr{})
	if err != nil || r.Local || r.Broadcast {
		c.fwdNoRoute.Inc()
		pr.sendError(p, ICMPDestUnreach, CodeNetUnreachable, 0)
		p.Release()
		return
	}
	mtu := r.MTU()
	// A TCP super-segment (GSO, from an offloading TAP) stands for
	// segments of GSOSize payload bytes: those must fit the MTU.
	size, gso := len(h), int(p.GSOSize)
	if gso > 0 {
		if size = gsoSegmentLen(h, gso); size == 0 {
			c.fwdBadGSO.Inc()
			p.Release()
			return
		}
	}
	if size > mtu && h.DF() {
		c.fwdFragNeeded.Inc()
		pr.sendError(p, ICMPDestUnreach, CodeFragmentationNeeded, MTURest(uint16(min(mtu, 0xffff))))
		p.Release()
		return
	}
	h.SetTTL(h.TTL() - 1)
	p.ChecksumOK = false
	gsoMax, csumOffload := r.NIC.Offloads()
	switch {
	case gso > 0 && size > mtu:
		// Segments that would need fragmenting (DF clear): rare enough
		// (every TCP sets DF) not to be worth a second software pass.
		c.fwdCannotFragment.Inc()
		p.Release()
		return
	case gso > 0 && (!csumOffload || gsoMax < len(h) || !p.ChecksumPartial):
		// The output device does not segment: do it here (see
		// forward_offload.go).
		c.fwdGSOSegmented.Inc()
		c.fwdForwarded.Inc()
		_ = pr.segment(&r, p, h, gso)
		p.Release()
		return
	case gso > 0:
		c.fwdGSOPassed.Inc() // the device segments and checksums it
	case p.ChecksumPartial && csumOffload && len(h) <= mtu:
		c.fwdCsumOffloaded.Inc() // the device completes the checksum
	case p.ChecksumPartial:
		// The output device would send the partial sum as it is, and
		// fragments cannot be checksummed by a device: complete it.
		if completeChecksum(h) {
			c.fwdCsumCompleted.Inc()
		}
		p.ChecksumPartial = false
	}
	if len(h) > mtu && gso == 0 {
		ihl := h.HeaderLength()
		if pr.sendFragments(&r, h[:ihl], h[ihl:], int(h.FragmentOffset()), h.MF()) != nil {
			c.fwdCannotFragment.Inc()
		} else {
			c.fwdFragmented.Inc()
		}
		p.Release()
		return
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
	// The NIC, link addresses and marked network header of the inbound
	// packet stay: they are what an ICMP host unreachable needs should
	// the next hop not resolve (HandleResolutionFailure).
	_ = r.NIC.WritePacket(r.NextHop, stack.EtherTypeIPv4, p)
}

// anyBroadcast reports whether a is the broadcast address of any of our
// subnets (or the limited broadcast).
func (pr *Protocol) anyBroadcast(a netip.Addr) bool {
	for _, n := range pr.s.NICs() {
		if n.IsBroadcast(a) {
			return true
		}
	}
	return false
}

// forwardableSource reports whether a router may forward a packet from a
// (RFC 1812 5.3.7, RFC 3927 section 7): not 0/8 ("this network"), not
// loopback 127/8, not link-local 169.254/16, not multicast or limited
// broadcast.
func forwardableSource(a netip.Addr) bool {
	b := a.As4()
	return b[0] != 0 && b[0] != 127 && !(b[0] == 169 && b[1] == 254) &&
		!a.IsMulticast() && a != limitedBroadcast
}

// forwardableDestination reports whether a router may forward a packet to
// a: not 0/8, 127/8 or link-local 169.254/16.
func forwardableDestination(a netip.Addr) bool {
	b := a.As4()
	return b[0] != 0 && b[0] != 127 && !(b[0] == 169 && b[1] == 254)
}
