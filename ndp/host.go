package ndp

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// twoHours is the RFC 4862 5.5.3 (e) limit below which an advertisement
// may not shorten a SLAAC address's valid lifetime.
const twoHours = 2 * time.Hour

// maxRtrSolicitationDelay is RFC 4861's MAX_RTR_SOLICITATION_DELAY.
const maxRtrSolicitationDelay = time.Second

// iface is the per-interface state. Protocol.mu guards it.
type iface struct {
	nic           *stack.NIC
	reachableBase time.Duration
	retrans       time.Duration
	hopLimit      uint8
	mtu           int

	autoconf bool
	rsSent   int
	rsTimer  stack.Timer
	gotRA    bool

	routers  []*router
	prefixes []*prefix
	dns      []*dnsServer
	expiry   stack.Timer
	adv      *advertiser
}

func (ifc *iface) stopTimers() {
	for _, t := range []stack.Timer{ifc.rsTimer, ifc.expiry} {
		if t != nil {
			t.Stop()
		}
	}
	if ifc.adv != nil && ifc.adv.timer != nil {
		ifc.adv.timer.Stop()
	}
}

// router is a default router list entry; until is zero for never.
type router struct {
	addr  netip.Addr
	until time.Time
}

// prefix is a prefix list entry: on-link (a route) and/or autonomous (a
// SLAAC address).
type prefix struct {
	prefix      netip.Prefix
	onLink      bool
	onLinkUntil time.Time
	routeAdded  bool

	slaac          bool
	addr           netip.Addr // the SLAAC address, once formed
	assigned       bool       // DAD passed and the address is on the NIC
	validUntil     time.Time
	preferredUntil time.Time
	dadCounter     uint8
}

type dnsServer struct {
	addr  netip.Addr
	until time.Time
}

// until converts a lifetime in seconds to a deadline; zero for Infinite.
func until(now time.Time, secs uint32) time.Time {
	if secs == Infinite {
		return time.Time{}
	}
	return now.Add(time.Duration(secs) * time.Second)
}

// action is a change to the stack that must be made without p.mu held.
type action func()

// Autoconfigure makes nic a host interface that configures itself (RFC
// 4862): unless it has one, a link-local EUI-64 address is added after
// duplicate address detection; router solicitations are sent (up to
// RouterSolicitations, RouterSolicitationInterval apart, until an
// advertisement comes); router advertisements then add default routes
// (::/0 via the router), routes for on-link prefixes, SLAAC addresses
// (after DAD; EUI-64, or RFC 7217 when Options.StableSecret is set) for
// autonomous /64 prefixes, DNS servers, the link MTU, hop limit and
// neighbour timers; each is removed again when its lifetime ends.
// Without Autoconfigure, advertisements only update the neighbour cache.
func (p *Protocol) Autoconfigure(nic *stack.NIC) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return stack.ErrClosed
	}
	ifc := p.ifaceLocked(nic)
	ifc.autoconf = true
	p.mu.Unlock()
	hasLL := false
	for _, a := range nic.Addresses() {
		if a.Addr().IsLinkLocalUnicast() {
			hasLL = true
		}
	}
	if hasLL {
		p.startRS(ifc)
		return nil
	}
	ll := LinkLocal(nic.LinkAddress())
	_, err := p.startDAD(nic, ll.Addr(), func(err error) {
		if err == nil {
			if err := nic.AddAddress(ll); err != nil {
				p.txErrors.Inc()
			}
		} else if !errors.Is(err, stack.ErrClosed) {
			p.slaacDADFailed.Inc()
		}
		p.startRS(ifc)
	})
	return err
}

// AddLinkLocal runs DAD for nic's EUI-64 link-local address and adds it
// (for interfaces that do not Autoconfigure but need one).
func (p *Protocol) AddLinkLocal(ctx context.Context, nic *stack.NIC) error {
	return p.ProbeAndAdd(ctx, nic, LinkLocal(nic.LinkAddress()))
}

// startRS schedules the first router solicitation after a random delay of
// up to one second (RFC 4861 6.3.7).
func (p *Protocol) startRS(ifc *iface) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || ifc.gotRA || ifc.rsTimer != nil {
		return
	}
	d := time.Duration(p.opts.Rand() * float64(maxRtrSolicitationDelay))
	ifc.rsTimer = p.clock.AfterFunc(d, func() { p.rsTick(ifc) })
}

func (p *Protocol) rsTick(ifc *iface) {
	p.mu.Lock()
	if p.closed || ifc.gotRA || ifc.rsSent >= p.opts.RouterSolicitations {
		p.mu.Unlock()
		return
	}
	ifc.rsSent++
	if ifc.rsSent < p.opts.RouterSolicitations {
		ifc.rsTimer.Reset(p.opts.RouterSolicitationInterval)
	}
	p.mu.Unlock()
	nic := ifc.nic
	src := nic.SourceAddress6(allRouters)
	rs := RouterSolicitation{}
	if src.IsValid() {
		rs.SourceLinkAddr = nic.LinkAddress()
	} else {
		src = netip.IPv6Unspecified()
	}
	p.send(nic, src, allRouters, &rs)
	p.txRS.Inc()
}

// handleRA processes a router advertisement on a host (RFC 4861 6.3.4,
// RFC 4862 5.5.3, RFC 8106 5.1).
func (p *Protocol) handleRA(pkt *stack.Packet, m Message) {
	nic := pkt.NIC
	src := pkt.Src.WithZone("")
	ra := m.RouterAdvertisement()
	now := p.clock.Now()
	var acts []action
	var flushQ []queued
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	ifc := p.ifaceLocked(nic)
	if ifc.adv != nil {
		// We advertise on this link ourselves: routers do not configure
		// themselves from others' advertisements.
		p.raIgnored.Inc()
		p.mu.Unlock()
		return
	}
	if !ra.SourceLinkAddr.IsZero() {
		flushQ, _ = p.learn(nic, src, ra.SourceLinkAddr)
	}
	if e := p.cache.m[key{nic, src}]; e != nil {
		e.router = true
	}
	if ifc.autoconf {
		ifc.gotRA = true
		if ra.CurHopLimit != 0 {
			ifc.hopLimit = ra.CurHopLimit
		}
		if ra.ReachableTime != 0 && ra.ReachableTime <= 3_600_000 {
			ifc.reachableBase = time.Duration(ra.ReachableTime) * time.Millisecond
		}
		if ra.RetransTimer != 0 {
			ifc.retrans = time.Duration(ra.RetransTimer) * time.Millisecond
		}
		if ra.MTU >= 1280 && int(ra.MTU) <= nic.MTU() {
			ifc.mtu = int(ra.MTU)
		}
		acts = p.updateRouterLocked(ifc, src, ra.RouterLifetime, now, acts)
		for _, pi := range ra.Prefixes {
			acts = p.updatePrefixLocked(ifc, pi, now, acts)
		}
		for _, d := range ra.DNS {
			for _, a := range d.Servers {
				p.updateDNSLocked(ifc, a, d.Lifetime, now)
			}
		}
		p.rescheduleLocked(ifc)
	}
	p.mu.Unlock()
	if flushQ != nil {
		p.flush(nic, ra.SourceLinkAddr, flushQ)
	}
	for _, a := range acts {
		a()
	}
}

func (p *Protocol) updateRouterLocked(ifc *iface, addr netip.Addr, lifetime uint16, now time.Time, acts []action) []action {
	nic := ifc.nic
	i := slices.IndexFunc(ifc.routers, func(r *router) bool { return r.addr == addr })
	switch {
	case lifetime == 0 && i >= 0:
		ifc.routers = slices.Delete(ifc.routers, i, i+1)
		acts = append(acts, func() { p.s.RemoveRoute(defaultRoute, addr, nic) })
	case lifetime == 0:
	case i >= 0:
		ifc.routers[i].until = now.Add(time.Duration(lifetime) * time.Second)
	case len(ifc.routers) >= p.opts.MaxRouters:
		p.routersFull.Inc()
	default:
		ifc.routers = append(ifc.routers, &router{addr, now.Add(time.Duration(lifetime) * time.Second)})
		acts = append(acts, func() {
			if p.s.AddRoute(stack.RouteEntry{Dst: defaultRoute, Gateway: addr, NIC: nic}) != nil {
				p.txErrors.Inc()
			}
		})
	}
	return acts
}

var defaultRoute = netip.MustParsePrefix("::/0")

// removeRouter drops addr from nic's default router list (an NA said it
// is no longer a router).
func (p *Protocol) removeRouter(nic *stack.NIC, addr netip.Addr) {
	p.mu.Lock()
	ifc := p.ifaces[nic]
	var acts []action
	if ifc != nil {
		acts = p.updateRouterLocked(ifc, addr, 0, p.clock.Now(), nil)
	}
	p.mu.Unlock()
	for _, a := range acts {
		a()
	}
}

func (p *Protocol) updatePrefixLocked(ifc *iface, pi PrefixInfo, now time.Time, acts []action) []action {
	nic := ifc.nic
	pfx := pi.Prefix.Masked()
	if pfx.Addr().IsLinkLocalUnicast() || pfx.Addr().IsMulticast() || !pfx.Addr().Is6() {
		p.raIgnored.Inc()
		return acts
	}
	slaac := pi.Autonomous && pfx.Bits() == 64 && pi.PreferredLifetime <= pi.ValidLifetime
	if !pi.OnLink && !slaac {
		return acts
	}
	i := slices.IndexFunc(ifc.prefixes, func(q *prefix) bool { return q.prefix == pfx })
	var pf *prefix
	if i >= 0 {
		pf = ifc.prefixes[i]
	} else {
		if pi.ValidLifetime == 0 {
			return acts
		}
		if len(ifc.prefixes) >= p.opts.MaxPrefixes {
			p.prefixesFull.Inc()
			return acts
		}
		pf = &prefix{prefix: pfx}
		ifc.prefixes = append(ifc.prefixes, pf)
	}
	if pi.OnLink {
		switch {
		case pi.ValidLifetime == 0:
			acts = p.dropOnLinkLocked(pf, acts, nic)
		default:
			pf.onLinkUntil = until(now, pi.ValidLifetime)
			if !pf.onLink {
				pf.onLink = true
				if !pf.assigned {
					pf.routeAdded = true
					acts = append(acts, func() {
						if p.s.AddRoute(stack.RouteEntry{Dst: pfx, NIC: nic}) != nil {
							p.txErrors.Inc()
						}
					})
				}
			}
		}
	}
	if slaac {
		if !pf.slaac {
			if pi.ValidLifetime == 0 {
				return acts
			}
			pf.slaac = true
			pf.validUntil = until(now, pi.ValidLifetime)
			pf.preferredUntil = until(now, pi.PreferredLifetime)
			acts = append(acts, p.formAddressLocked(ifc, pf))
			return acts
		}
		pf.preferredUntil = until(now, pi.PreferredLifetime)
		// RFC 4862 5.5.3 (e): the two-hour rule against a spoofed
		// advertisement cutting the address's life short.
		recv := time.Duration(pi.ValidLifetime) * time.Second
		remaining := pf.validUntil.Sub(now)
		infinite := pf.validUntil.IsZero()
		switch {
		case pi.ValidLifetime == Infinite || recv > twoHours || (!infinite && recv > remaining):
			pf.validUntil = until(now, pi.ValidLifetime)
		case !infinite && remaining <= twoHours:
			// ignore
		default:
			pf.validUntil = now.Add(twoHours)
		}
	}
	return acts
}

// dropOnLinkLocked ends pf's on-link status and its route.
func (p *Protocol) dropOnLinkLocked(pf *prefix, acts []action, nic *stack.NIC) []action {
	pf.onLink = false
	if pf.routeAdded {
		pf.routeAdded = false
		pfx := pf.prefix
		acts = append(acts, func() { p.s.RemoveRoute(pfx, netip.Addr{}, nic) })
	}
	return acts
}

// formAddressLocked picks pf's SLAAC address and returns the action that
// runs its DAD and adds it.
func (p *Protocol) formAddressLocked(ifc *iface, pf *prefix) action {
	nic := ifc.nic
	var a netip.Prefix
	if len(p.opts.StableSecret) > 0 {
		a = StableAddress(pf.prefix, nic.Name(), p.opts.NetworkID, pf.dadCounter, p.opts.StableSecret)
	} else {
		a = withIID(pf.prefix, EUI64(nic.LinkAddress()))
	}
	pf.addr = a.Addr()
	return func() {
		if nic.HasAddress(a.Addr()) {
			return // configured statically already
		}
		_, err := p.startDAD(nic, a.Addr(), func(err error) { p.dadDone(ifc, pf, a, err) })
		if err != nil {
			p.slaacDADFailed.Inc()
		}
	}
}

// dadDone adds a SLAAC address whose DAD passed, or retries with the next
// RFC 7217 DAD counter (up to 3 times) after a conflict.
func (p *Protocol) dadDone(ifc *iface, pf *prefix, a netip.Prefix, err error) {
	p.mu.Lock()
	current := !p.closed && slices.Contains(ifc.prefixes, pf) && pf.slaac && pf.addr == a.Addr()
	if !current || errors.Is(err, stack.ErrClosed) {
		p.mu.Unlock()
		return
	}
	if err != nil {
		p.slaacDADFailed.Inc()
		var retry action
		if len(p.opts.StableSecret) > 0 && pf.dadCounter < 3 {
			pf.dadCounter++
			retry = p.formAddressLocked(ifc, pf)
		} else {
			pf.addr = netip.Addr{}
		}
		p.mu.Unlock()
		if retry != nil {
			retry()
		}
		return
	}
	pf.assigned = true
	hadRoute := pf.routeAdded
	pf.routeAdded = false
	p.mu.Unlock()
	nic := ifc.nic
	if hadRoute {
		// The address brings its own connected route for the prefix.
		p.s.RemoveRoute(pf.prefix, netip.Addr{}, nic)
	}
	if err := nic.AddAddress(a); err != nil {
		p.txErrors.Inc()
		return
	}
	p.slaacAdded.Inc()
}

func (p *Protocol) updateDNSLocked(ifc *iface, a netip.Addr, lifetime uint32, now time.Time) {
	i := slices.IndexFunc(ifc.dns, func(d *dnsServer) bool { return d.addr == a })
	switch {
	case lifetime == 0 && i >= 0:
		ifc.dns = slices.Delete(ifc.dns, i, i+1)
	case lifetime == 0:
	case i >= 0:
		ifc.dns[i].until = until(now, lifetime)
	case len(ifc.dns) >= p.opts.MaxDNSServers:
		p.dnsFull.Inc()
	default:
		ifc.dns = append(ifc.dns, &dnsServer{a, until(now, lifetime)})
	}
}

// rescheduleLocked arms ifc's expiry timer for its earliest deadline.
func (p *Protocol) rescheduleLocked(ifc *iface) {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, r := range ifc.routers {
		consider(r.until)
	}
	for _, pf := range ifc.prefixes {
		if pf.onLink {
			consider(pf.onLinkUntil)
		}
		if pf.slaac {
			consider(pf.validUntil)
		}
	}
	for _, d := range ifc.dns {
		consider(d.until)
	}
	if next.IsZero() {
		if ifc.expiry != nil {
			ifc.expiry.Stop()
		}
		return
	}
	// At least a second between sweeps, so that a deadline a sweep
	// failed to clear cannot spin the timer.
	d := max(next.Sub(p.clock.Now()), time.Second)
	if ifc.expiry == nil {
		ifc.expiry = p.clock.AfterFunc(d, func() { p.expire(ifc) })
	} else {
		ifc.expiry.Reset(d)
	}
}

// expire removes what has outlived its lifetime on ifc.
func (p *Protocol) expire(ifc *iface) {
	now := p.clock.Now()
	gone := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	var acts []action
	nic := ifc.nic
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	ifc.routers = slices.DeleteFunc(ifc.routers, func(r *router) bool {
		if gone(r.until) {
			addr := r.addr
			acts = append(acts, func() { p.s.RemoveRoute(defaultRoute, addr, nic) })
			return true
		}
		return false
	})
	ifc.prefixes = slices.DeleteFunc(ifc.prefixes, func(pf *prefix) bool {
		if pf.slaac && gone(pf.validUntil) {
			pf.slaac = false
			if pf.assigned {
				pf.assigned = false
				a := pf.addr
				stillOnLink := pf.onLink && !gone(pf.onLinkUntil)
				pf.routeAdded = stillOnLink
				pfx := pf.prefix
				p.slaacExpired.Inc()
				acts = append(acts, func() {
					nic.RemoveAddress(a)
					if stillOnLink {
						p.s.AddRoute(stack.RouteEntry{Dst: pfx, NIC: nic})
					}
				})
			}
			pf.addr = netip.Addr{}
		}
		if pf.onLink && gone(pf.onLinkUntil) {
			acts = p.dropOnLinkLocked(pf, acts, nic)
		}
		return !pf.onLink && !pf.slaac
	})
	ifc.dns = slices.DeleteFunc(ifc.dns, func(d *dnsServer) bool { return gone(d.until) })
	p.rescheduleLocked(ifc)
	p.mu.Unlock()
	for _, a := range acts {
		a()
	}
}
