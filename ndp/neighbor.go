package ndp

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
)

// handleNS answers a solicitation for one of our addresses (RFC 4861
// 7.2.3, 7.2.4) and learns the sender from its source link-layer address
// option; a solicitation for an address we are probing is a conflict (RFC
// 4862 5.4.3).
func (p *Protocol) handleNS(pkt *stack.Packet, m Message) {
	nic := pkt.NIC
	src := pkt.Src.WithZone("")
	target := m.Target()
	sll, hasSLL := m.LinkAddrOption(OptionSourceLinkAddr)
	looped := pkt.LinkSrc == nic.LinkAddress()
	if p.checkProbes(pkt, m) {
		return
	}
	if !nic.HasAddress(target) {
		p.rxNotForUs.Inc()
		return
	}
	if looped {
		p.rxLooped.Inc()
		return
	}
	ours := NeighborAdvertisement{
		Router:         p.isRouter(nic),
		Override:       true,
		Target:         target,
		TargetLinkAddr: nic.LinkAddress(),
	}
	if src.IsUnspecified() {
		// Another node's DAD for an address we have: defend it by
		// answering all nodes (RFC 4862 5.4.3).
		p.rxConflict.Inc()
		p.send(nic, target, allNodes, &ours)
		p.txNA.Inc()
		return
	}
	if nic.HasAddress(src) {
		p.rxConflict.Inc()
		return
	}
	if hasSLL {
		p.mu.Lock()
		if !p.closed {
			if q, mac := p.learn(nic, src, sll); q != nil {
				p.mu.Unlock()
				p.flush(nic, mac, q)
				p.mu.Lock()
			}
		}
		p.mu.Unlock()
	}
	ours.Solicited = true
	p.send(nic, target, src, &ours)
	p.txNA.Inc()
}

// learn records, from an NS or RA source link-layer address option, that
// addr is at mac (RFC 4861 7.2.3, 6.3.4): a new entry is STALE, a changed
// address makes the entry STALE, an unchanged one stays as it is. It
// returns the packets that were waiting for it. p.mu must be held.
func (p *Protocol) learn(nic *stack.NIC, addr netip.Addr, mac stack.MAC) ([]queued, stack.MAC) {
	k := key{nic, addr}
	e := p.cache.m[k]
	switch {
	case e == nil:
		if e = p.newEntry(k); e == nil {
			p.rxCacheFull.Inc()
			return nil, mac
		}
	case e.state == Permanent:
		return nil, mac
	case e.state.usable() && e.mac == mac:
		return nil, mac
	}
	e.mac = mac
	e.probes = 0
	p.cache.setState(e, Stale)
	p.arm(e, p.opts.GCStaleTime)
	return e.takeQueue(), mac
}

// handleNA applies an advertisement to the cache by RFC 4861 7.2.5; an
// advertisement for an address we are probing for is a conflict, one for
// an address we have is counted as a conflict and otherwise ignored.
func (p *Protocol) handleNA(pkt *stack.Packet, m Message) {
	nic := pkt.NIC
	target := m.Target()
	tll, hasTLL := m.LinkAddrOption(OptionTargetLinkAddr)
	looped := pkt.LinkSrc == nic.LinkAddress()
	if p.checkProbes(pkt, m) {
		return
	}
	if looped {
		p.rxLooped.Inc()
		return
	}
	if nic.HasAddress(target) {
		p.rxConflict.Inc()
		return
	}
	solicited, override, router := m.Solicited(), m.Override(), m.Router()
	var (
		flushQ     []queued
		flushMAC   stack.MAC
		lostRouter bool
	)
	p.mu.Lock()
	e := p.cache.m[key{nic, target}]
	switch {
	case p.closed:
	case e == nil:
		// RFC 4861 7.2.5: no entry, the advertisement is discarded.
		p.rxUnsolicited.Inc()
	case e.state == Permanent:
	case e.state == Incomplete || e.state == Failed:
		if !hasTLL {
			break
		}
		e.mac, e.router, e.probes = tll, router, 0
		if solicited {
			p.cache.setState(e, Reachable)
			p.arm(e, p.reachableTimeLocked(nic))
		} else {
			p.cache.setState(e, Stale)
			p.arm(e, p.opts.GCStaleTime)
		}
		flushQ, flushMAC = e.takeQueue(), tll
	case !override && hasTLL && tll != e.mac:
		// A different address without override: only demote.
		if e.state == Reachable {
			p.cache.setState(e, Stale)
			p.arm(e, p.opts.GCStaleTime)
		}
	default:
		changed := hasTLL && tll != e.mac
		if hasTLL {
			e.mac = tll
		}
		switch {
		case solicited:
			p.cache.setState(e, Reachable)
			e.probes = 0
			p.arm(e, p.reachableTimeLocked(nic))
		case changed:
			p.cache.setState(e, Stale)
			p.arm(e, p.opts.GCStaleTime)
		}
		lostRouter = e.router && !router
		e.router = router
	}
	p.mu.Unlock()
	if flushQ != nil {
		p.flush(nic, flushMAC, flushQ)
	}
	if lostRouter {
		// RFC 4861 7.2.5: it is no longer a router.
		p.removeRouter(nic, target)
	}
}

var (
	allNodes   = netip.MustParseAddr("ff02::1")
	allRouters = netip.MustParseAddr("ff02::2")
)

// AddressAdded joins the solicited-node group of a new IPv6 address and
// announces it with an unsolicited advertisement to all nodes (RFC 4861
// 7.2.6).
func (p *Protocol) AddressAdded(nic *stack.NIC, addr netip.Prefix) {
	a := addr.Addr()
	if !a.Is6() || p.isClosed() || nic.IsL3() {
		return
	}
	nic.JoinGroup(stack.SolicitedNodeAddress(a))
	na := NeighborAdvertisement{Router: p.isRouter(nic), Override: true, Target: a, TargetLinkAddr: nic.LinkAddress()}
	p.send(nic, a, allNodes, &na)
	p.txNA.Inc()
	p.txUnsolicitedNA.Inc()
}

// AddressRemoved leaves the address's solicited-node group.
func (p *Protocol) AddressRemoved(nic *stack.NIC, addr netip.Prefix) {
	if a := addr.Addr(); a.Is6() {
		nic.LeaveGroup(stack.SolicitedNodeAddress(a))
	}
}
