package ndp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Router-side constants of RFC 4861 section 10.
const (
	maxInitialRtrAdvertInterval = 16 * time.Second
	maxInitialRtrAdvertisements = 3
	maxRADelayTime              = 500 * time.Millisecond
	// MinDelayBetweenRAs is the least time between two multicast router
	// advertisements (MIN_DELAY_BETWEEN_RAS); solicited ones wait for it.
	MinDelayBetweenRAs = 3 * time.Second
)

// AdvertiseConfig configures the router advertisements of one interface
// (RFC 4861 6.2.1, the job radvd does). The zero value advertises every
// /64 of the interface's global addresses with the L and A flags, a router
// lifetime of 1800s and the interface MTU, every 200 to 600 seconds.
type AdvertiseConfig struct {
	// MaxInterval and MinInterval bound the random spacing of unsolicited
	// advertisements (MaxRtrAdvInterval, default 600s; MinRtrAdvInterval,
	// default MaxInterval/3).
	MaxInterval, MinInterval time.Duration
	// RouterLifetime is advertised in seconds (AdvDefaultLifetime,
	// default 1800; 3×MaxInterval if that is larger is not applied).
	RouterLifetime uint16
	// NotDefault advertises a router lifetime of 0: hosts use our prefixes
	// but not us as their default router.
	NotDefault bool
	// Prefixes are advertised in addition to the interface's /64s.
	Prefixes []netip.Prefix
	// ValidLifetime and PreferredLifetime of the prefixes, in seconds
	// (radvd defaults 86400 and 14400).
	ValidLifetime, PreferredLifetime uint32
	// MTU is the MTU option; 0 means the interface MTU, negative none.
	MTU int
	// CurHopLimit is the hop limit hosts should use (default 64).
	CurHopLimit uint8
	// DNS are RDNSS servers to advertise (RFC 8106) with DNSLifetime
	// seconds (default 2×MaxInterval).
	DNS         []netip.Addr
	DNSLifetime uint32
}

func (c AdvertiseConfig) withDefaults() AdvertiseConfig {
	if c.MaxInterval <= 0 {
		c.MaxInterval = 600 * time.Second
	}
	if c.MaxInterval < 4*time.Second {
		c.MaxInterval = 4 * time.Second
	}
	if c.MinInterval <= 0 || c.MinInterval > c.MaxInterval*3/4 {
		c.MinInterval = c.MaxInterval / 3
	}
	if c.RouterLifetime == 0 {
		c.RouterLifetime = 1800
	}
	if c.NotDefault {
		c.RouterLifetime = 0
	}
	if c.ValidLifetime == 0 {
		c.ValidLifetime = 86400
	}
	if c.PreferredLifetime == 0 {
		c.PreferredLifetime = 14400
	}
	if c.PreferredLifetime > c.ValidLifetime {
		c.PreferredLifetime = c.ValidLifetime
	}
	if c.CurHopLimit == 0 {
		c.CurHopLimit = 64
	}
	if c.DNSLifetime == 0 {
		c.DNSLifetime = uint32(2 * c.MaxInterval / time.Second)
	}
	return c
}

// advertiser is the advertising state of an interface.
type advertiser struct {
	cfg      AdvertiseConfig
	timer    stack.Timer
	next     time.Time // when timer fires
	sent     int       // unsolicited advertisements so far
	lastSent time.Time
}

// Advertise makes nic a router interface (RFC 4861 6.2): it joins the
// all-routers group, answers router solicitations (at most one multicast
// advertisement per MinDelayBetweenRAs) and multicasts advertisements of
// cfg at random intervals (the first three at most 16s apart). The first
// advertisement is sent at once. Neighbour advertisements from nic then
// carry the router flag. Calling it again replaces the configuration.
func (p *Protocol) Advertise(nic *stack.NIC, cfg AdvertiseConfig) error {
	if nic == nil {
		return fmt.Errorf("ndp: Advertise needs an interface: %w", stack.ErrInvalid)
	}
	cfg = cfg.withDefaults()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return stack.ErrClosed
	}
	ifc := p.ifaceLocked(nic)
	join := ifc.adv == nil
	if ifc.adv != nil {
		ifc.adv.cfg = cfg
		p.mu.Unlock()
		return nil
	}
	ifc.adv = &advertiser{cfg: cfg}
	p.mu.Unlock()
	if join {
		nic.JoinGroup(allRouters)
	}
	p.advertise(ifc, false)
	return nil
}

// StopAdvertising ends Advertise on nic with a final advertisement of
// router lifetime 0 (RFC 4861 6.2.5), so hosts drop us as a default
// router at once.
func (p *Protocol) StopAdvertising(nic *stack.NIC) {
	p.mu.Lock()
	ifc := p.ifaces[nic]
	if ifc == nil || ifc.adv == nil {
		p.mu.Unlock()
		return
	}
	adv := ifc.adv
	ifc.adv = nil
	if adv.timer != nil {
		adv.timer.Stop()
	}
	closed := p.closed
	p.mu.Unlock()
	if !closed {
		cfg := adv.cfg
		cfg.RouterLifetime = 0
		p.sendRA(nic, cfg, allNodes)
	}
	nic.LeaveGroup(allRouters)
}

func (p *Protocol) stopAllAdvertising() {
	p.mu.Lock()
	var nics []*stack.NIC
	for nic, ifc := range p.ifaces {
		if ifc.adv != nil {
			nics = append(nics, nic)
		}
	}
	p.mu.Unlock()
	for _, nic := range nics {
		p.StopAdvertising(nic)
	}
}

// isRouter reports whether we advertise on nic.
func (p *Protocol) isRouter(nic *stack.NIC) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ifc := p.ifaces[nic]
	return ifc != nil && ifc.adv != nil
}

// advertise sends a multicast advertisement now and schedules the next
// unsolicited one. solicited says it answers a solicitation.
func (p *Protocol) advertise(ifc *iface, solicited bool) {
	now := p.clock.Now()
	p.mu.Lock()
	adv := ifc.adv
	if p.closed || adv == nil {
		p.mu.Unlock()
		return
	}
	c := adv.cfg
	d := c.MinInterval + time.Duration(p.opts.Rand()*float64(c.MaxInterval-c.MinInterval))
	if !solicited {
		adv.sent++
	}
	if adv.sent <= maxInitialRtrAdvertisements && d > maxInitialRtrAdvertInterval {
		d = maxInitialRtrAdvertInterval
	}
	adv.lastSent = now
	adv.next = now.Add(d)
	if adv.timer == nil {
		adv.timer = p.clock.AfterFunc(d, func() { p.advertise(ifc, false) })
	} else {
		adv.timer.Reset(d)
	}
	p.mu.Unlock()
	p.sendRA(ifc.nic, c, allNodes)
}

// sendRA builds and sends an advertisement of cfg for nic to dst.
func (p *Protocol) sendRA(nic *stack.NIC, c AdvertiseConfig, dst netip.Addr) {
	src := nic.SourceAddress6(allNodes)
	if !src.IsValid() || !src.IsLinkLocalUnicast() {
		// RFC 4861 6.1.2: advertisements come from a link-local address.
		p.txNoSource.Inc()
		return
	}
	ra := RouterAdvertisement{
		CurHopLimit:    c.CurHopLimit,
		RouterLifetime: c.RouterLifetime,
		SourceLinkAddr: nic.LinkAddress(),
	}
	switch {
	case c.MTU == 0:
		ra.MTU = uint32(nic.MTU())
	case c.MTU > 0:
		ra.MTU = uint32(c.MTU)
	}
	add := func(pfx netip.Prefix) {
		pfx = pfx.Masked()
		for _, q := range ra.Prefixes {
			if q.Prefix == pfx {
				return
			}
		}
		ra.Prefixes = append(ra.Prefixes, PrefixInfo{
			Prefix: pfx, OnLink: true, Autonomous: pfx.Bits() == 64,
			ValidLifetime: c.ValidLifetime, PreferredLifetime: c.PreferredLifetime,
		})
	}
	for _, a := range nic.Addresses() {
		if a.Addr().Is6() && !a.Addr().IsLinkLocalUnicast() && a.Bits() == 64 {
			add(a)
		}
	}
	for _, pfx := range c.Prefixes {
		if pfx.Addr().Is6() {
			add(pfx)
		}
	}
	if len(c.DNS) > 0 {
		ra.DNS = []RDNSS{{Lifetime: c.DNSLifetime, Servers: c.DNS}}
	}
	if ra.Len() > nic.MTU()-40 {
		p.txErrors.Inc()
		return
	}
	p.send(nic, src, dst, &ra)
	p.txRA.Inc()
}

// handleRS answers a router solicitation on an advertising interface
// (RFC 4861 6.2.6): the sender is learnt (STALE) from its source
// link-layer option, and a multicast advertisement follows after a random
// delay of up to 500 ms, but no sooner than MinDelayBetweenRAs after the
// last one.
func (p *Protocol) handleRS(pkt *stack.Packet, m Message) {
	nic := pkt.NIC
	src := pkt.Src.WithZone("")
	now := p.clock.Now()
	p.mu.Lock()
	ifc := p.ifaces[nic]
	if p.closed || ifc == nil || ifc.adv == nil {
		p.mu.Unlock()
		p.rxNotForUs.Inc()
		return
	}
	var flushQ []queued
	sll, ok := m.LinkAddrOption(OptionSourceLinkAddr)
	if ok && !src.IsUnspecified() {
		flushQ, _ = p.learn(nic, src, sll)
	}
	adv := ifc.adv
	at := now.Add(time.Duration(p.opts.Rand() * float64(maxRADelayTime)))
	if earliest := adv.lastSent.Add(MinDelayBetweenRAs); at.Before(earliest) {
		at = earliest
		p.raRateLimited.Inc()
	}
	if adv.timer != nil && at.Before(adv.next) {
		adv.next = at
		adv.timer.Reset(at.Sub(now))
		// The timer's advertisement counts as unsolicited; close enough:
		// it only shortens the first few intervals.
	}
	p.mu.Unlock()
	if flushQ != nil {
		p.flush(nic, sll, flushQ)
	}
}
