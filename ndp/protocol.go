// Package ndp is IPv6 Neighbour Discovery (RFC 4861) and stateless address
// autoconfiguration (RFC 4862, RFC 7217, RFC 8106) for tapstack: the
// IPv6 link resolver with a neighbour cache shaped like package arp's
// (INCOMPLETE, REACHABLE, STALE, DELAY, PROBE, FAILED, PERMANENT, the same
// timers and bounds), answers to neighbour solicitations for our
// addresses, duplicate address detection, link-local and SLAAC addresses,
// the default router list, link MTU and DNS servers from router
// advertisements, and the router side that sends advertisements for an
// interface's /64 prefixes.
//
// Register it with a stack that has an IPv6 layer (a stack.NetworkProtocol
// for EtherType 0x86dd implementing stack.IPWriter, which hands ICMPv6
// types 133-137 to the handlers registered with SetICMPv6Handler). It
// becomes the IPv6 link resolver and an address observer: every IPv6
// address added to a NIC joins its solicited-node group and is announced
// with an unsolicited advertisement.
//
// Addresses are never "tentative" on a NIC: a caller runs duplicate
// address detection first (Probe, or ProbeAndAdd which also adds the
// address), as for arp.ProbeAndAdd. Autoconfigure makes ndp itself add
// the link-local address, SLAAC addresses, on-link prefix routes and
// default routes of an interface, and remove them when their lifetimes
// end; the host reads what it learnt with Routers, Prefixes, DNSServers
// and LinkMTU.
//
// ndp is not a network protocol of the stack, so Stack.Close does not
// close it: call Protocol.Close first (it sends the final zero-lifetime
// advertisements and stops every timer), then Stack.Close.
//
// Every malformed or unwanted message is dropped and counted under
// "ndp.rx.<reason>"; every table (neighbours, routers, prefixes, DNS
// servers, per-neighbour queues) is bounded, so a flood of solicitations
// or advertisements from random sources cannot grow memory.
//
// The NUD machine is a sibling of package arp's rather than shared code:
// arp's is interleaved with its locking and ARP's merge rule, and
// extracting it was judged too risky for now; the states, names and
// timers are the same so both tables read alike (`tapstack neigh`).
package ndp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Protocol is Neighbour Discovery on one stack. Its methods are safe for
// concurrent use.
type Protocol struct {
	s     *stack.Stack
	clock stack.Clock
	opts  Options

	mu      sync.Mutex
	idle    sync.Cond
	cache   cache
	ifaces  map[*stack.NIC]*iface
	probing map[key]*probeState
	// tokens and tokensAt are the solicitation rate limiter's bucket.
	tokens   float64
	tokensAt time.Time
	closed   bool
	done     chan struct{}
	running  int

	rxDrop map[*RxError]*stack.Counter

	rxNS, rxNA, rxRS, rxRA, rxRedirect *stack.Counter
	rxNotForUs, rxLooped, rxConflict   *stack.Counter
	rxUnsolicited, rxCacheFull         *stack.Counter
	rxNoNIC                            *stack.Counter
	rxL3Link                           *stack.Counter
	txNS, txNA, txRS, txRA             *stack.Counter
	txUnicastProbes, txDADProbes       *stack.Counter
	txUnsolicitedNA, txRateLimited     *stack.Counter
	txNoSource, txErrors               *stack.Counter
	txQueued, txQueueOverflow          *stack.Counter
	txUnresolved, txCacheFull          *stack.Counter
	cacheEvicted, cacheFailed          *stack.Counter
	dadConflict                        *stack.Counter
	raIgnored, routersFull             *stack.Counter
	prefixesFull, dnsFull              *stack.Counter
	slaacAdded, slaacExpired           *stack.Counter
	slaacDADFailed, raRateLimited      *stack.Counter
}

var (
	_ stack.LinkResolver           = (*Protocol)(nil)
	_ stack.AddressObserver        = (*Protocol)(nil)
	_ stack.AddressRemovalObserver = (*Protocol)(nil)
	_ stack.ICMPv6Handler          = (*Protocol)(nil)
)

// Register creates Neighbour Discovery for s with opts (zero values take
// the RFC defaults): it handles ICMPv6 types 133 to 137, becomes the link
// resolver for IPv6 next hops and observes address changes.
func Register(s *stack.Stack, opts Options) (*Protocol, error) {
	c := s.Counters()
	p := &Protocol{
		s:       s,
		clock:   s.Clock(),
		opts:    opts.withDefaults(),
		cache:   cache{m: make(map[key]*entry)},
		ifaces:  make(map[*stack.NIC]*iface),
		probing: make(map[key]*probeState),
		done:    make(chan struct{}),
		rxDrop:  make(map[*RxError]*stack.Counter),

		rxNS:            c.Get("ndp.rx.ns"),
		rxNA:            c.Get("ndp.rx.na"),
		rxRS:            c.Get("ndp.rx.rs"),
		rxRA:            c.Get("ndp.rx.ra"),
		rxRedirect:      c.Get("ndp.rx.redirect"),
		rxNotForUs:      c.Get("ndp.rx.not_for_us"),
		rxLooped:        c.Get("ndp.rx.looped"),
		rxConflict:      c.Get("ndp.rx.conflict"),
		rxUnsolicited:   c.Get("ndp.rx.unsolicited_na"),
		rxCacheFull:     c.Get("ndp.rx.cache_full"),
		rxNoNIC:         c.Get("ndp.rx.no_nic"),
		rxL3Link:        c.Get("ndp.rx.l3_link"),
		txNS:            c.Get("ndp.tx.ns"),
		txNA:            c.Get("ndp.tx.na"),
		txRS:            c.Get("ndp.tx.rs"),
		txRA:            c.Get("ndp.tx.ra"),
		txUnicastProbes: c.Get("ndp.tx.unicast_probes"),
		txDADProbes:     c.Get("ndp.tx.dad_probes"),
		txUnsolicitedNA: c.Get("ndp.tx.unsolicited_na"),
		txRateLimited:   c.Get("ndp.tx.rate_limited"),
		txNoSource:      c.Get("ndp.tx.no_source"),
		txErrors:        c.Get("ndp.tx.errors"),
		txQueued:        c.Get("ndp.tx.queued"),
		txQueueOverflow: c.Get("ndp.tx.queue_overflow"),
		txUnresolved:    c.Get("ndp.tx.unresolved"),
		txCacheFull:     c.Get("ndp.tx.cache_full"),
		cacheEvicted:    c.Get("ndp.cache.evicted"),
		cacheFailed:     c.Get("ndp.cache.failed"),
		dadConflict:     c.Get("ndp.dad.conflict"),
		raIgnored:       c.Get("ndp.ra.ignored"),
		routersFull:     c.Get("ndp.ra.routers_full"),
		prefixesFull:    c.Get("ndp.ra.prefixes_full"),
		dnsFull:         c.Get("ndp.ra.dns_full"),
		slaacAdded:      c.Get("ndp.slaac.added"),
		slaacExpired:    c.Get("ndp.slaac.expired"),
		slaacDADFailed:  c.Get("ndp.slaac.dad_failed"),
		raRateLimited:   c.Get("ndp.tx.ra_rate_limited"),
	}
	for _, e := range rxErrors {
		p.rxDrop[e] = c.Get("ndp.rx." + e.Reason)
	}
	p.tokens = float64(p.opts.SolicitBurst)
	p.tokensAt = p.clock.Now()
	p.idle.L = &p.mu
	for _, t := range []uint8{TypeRouterSolicitation, TypeRouterAdvertisement, TypeNeighborSolicitation, TypeNeighborAdvertisement, TypeRedirect} {
		s.SetICMPv6Handler(t, p)
	}
	s.SetResolver(stack.EtherTypeIPv6, p)
	s.AddObserver(p)
	return p, nil
}

// ifaceLocked returns nic's per-interface state, creating it. p.mu must be
// held.
func (p *Protocol) ifaceLocked(nic *stack.NIC) *iface {
	ifc := p.ifaces[nic]
	if ifc == nil {
		ifc = &iface{nic: nic, reachableBase: p.opts.ReachableTime, retrans: p.opts.RetransTimer}
		p.ifaces[nic] = ifc
	}
	return ifc
}

// retransLocked is nic's RetransTimer (an RA may have changed it).
func (p *Protocol) retransLocked(nic *stack.NIC) time.Duration {
	if ifc := p.ifaces[nic]; ifc != nil {
		return ifc.retrans
	}
	return p.opts.RetransTimer
}

// reachableTimeLocked draws a REACHABLE time in [0.5, 1.5) × nic's base.
func (p *Protocol) reachableTimeLocked(nic *stack.NIC) time.Duration {
	base := p.opts.ReachableTime
	if ifc := p.ifaces[nic]; ifc != nil {
		base = ifc.reachableBase
	}
	return time.Duration((0.5 + p.opts.Rand()) * float64(base))
}

func (p *Protocol) arm(e *entry, d time.Duration) {
	e.deadline = p.clock.Now().Add(d)
	if e.timer == nil {
		e.timer = p.clock.AfterFunc(d, func() { p.fire(e) })
		return
	}
	e.timer.Reset(d)
}

func (p *Protocol) newEntry(k key) *entry {
	if len(p.cache.m) >= p.opts.CacheSize {
		v := p.cache.victim()
		if v == nil {
			return nil
		}
		for _, w := range v.takeQueue() {
			w.p.Release()
		}
		p.cache.remove(v)
		p.cacheEvicted.Inc()
	}
	e := &entry{key: k}
	p.cache.m[k] = e
	return e
}

func (p *Protocol) enqueue(e *entry, pkt *stack.Packet) {
	size := pkt.Len()
	drop := 0
	for drop < len(e.queue) && (e.qbytes+size > p.opts.QueueBytes ||
		(p.opts.QueueLen > 0 && len(e.queue)-drop >= p.opts.QueueLen)) {
		e.queue[drop].p.Release()
		e.qbytes -= e.queue[drop].size
		drop++
		p.txQueueOverflow.Inc()
	}
	if drop > 0 {
		n := copy(e.queue, e.queue[drop:])
		clear(e.queue[n:])
		e.queue = e.queue[:n]
	}
	if e.queue == nil {
		e.queue = make([]queued, 0, 4)
	}
	e.queue = append(e.queue, queued{pkt, size})
	e.qbytes += size
	p.txQueued.Inc()
}

// WriteTo sends pkt, an IPv6 packet, to the link address of nextHop on
// nic. Through a REACHABLE, STALE, DELAY, PROBE or PERMANENT entry it
// writes at once and allocates nothing. Otherwise pkt waits in the
// neighbour's bounded queue while neighbour solicitations go to its
// solicited-node address every RetransTimer, MaxMulticastSolicit times;
// if none is answered each waiting packet goes to Stack.ResolutionFailed.
// It takes ownership of pkt.
func (p *Protocol) WriteTo(nic *stack.NIC, nextHop netip.Addr, etherType uint16, pkt *stack.Packet) error {
	nextHop = nextHop.WithZone("")
	k := key{nic, nextHop}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pkt.Release()
		return stack.ErrClosed
	}
	e := p.cache.m[k]
	if e != nil && e.state.usable() {
		mac := e.mac
		if e.state == Stale {
			// RFC 4861 7.3.3: the first send through a STALE entry.
			p.cache.setState(e, Delay)
			e.probes = 0
			p.arm(e, p.opts.DelayFirstProbeTime)
		}
		p.mu.Unlock()
		return nic.WriteLinkPacket(mac, etherType, pkt)
	}
	if e != nil && e.state == Incomplete {
		p.enqueue(e, pkt)
		p.mu.Unlock()
		return nil
	}
	if !nextHop.Is6() || nextHop.IsUnspecified() || nextHop.IsMulticast() || nextHop.Is4In6() {
		p.mu.Unlock()
		pkt.Release()
		return fmt.Errorf("ndp: cannot resolve next hop %v: %w", nextHop, stack.ErrInvalid)
	}
	if e == nil {
		if e = p.newEntry(k); e == nil {
			p.mu.Unlock()
			pkt.Release()
			p.txCacheFull.Inc()
			return fmt.Errorf("ndp: neighbour cache full (%d entries) resolving %v: %w", p.opts.CacheSize, nextHop, stack.ErrNoBufferSpace)
		}
	}
	p.cache.setState(e, Incomplete)
	e.mac = stack.MAC{}
	e.probes = 1
	p.enqueue(e, pkt)
	p.arm(e, p.retransLocked(nic))
	p.mu.Unlock()
	p.solicit(nic, nextHop, false)
	return nil
}

// Confirm is the upper-layer reachability hint of RFC 4861 7.3.1: a
// transport that saw forward progress (new data acknowledged) tells us
// that addr on nic is reachable, which keeps its entry REACHABLE without
// probing. It does nothing for unknown, unresolved or static entries.
func (p *Protocol) Confirm(nic *stack.NIC, addr netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.cache.m[key{nic, addr.WithZone("")}]
	if p.closed || e == nil || !e.state.usable() || e.state == Permanent {
		return
	}
	p.cache.setState(e, Reachable)
	e.probes = 0
	p.arm(e, p.reachableTimeLocked(nic))
}

// allowSolicit takes a token from the rate limiter. p.mu must not be held.
func (p *Protocol) allowSolicit() bool {
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if dt := now.Sub(p.tokensAt); dt > 0 {
		p.tokens = min(p.tokens+dt.Seconds()*p.opts.SolicitRate, float64(p.opts.SolicitBurst))
		p.tokensAt = now
	}
	if p.tokens < 1 {
		p.txRateLimited.Inc()
		return false
	}
	p.tokens--
	return true
}

// solicit sends an NS for target: to its solicited-node address, or
// unicast to target (a PROBE). p.mu must not be held.
func (p *Protocol) solicit(nic *stack.NIC, target netip.Addr, unicast bool) {
	if !p.allowSolicit() {
		return
	}
	src := nic.SourceAddress6(target)
	if !src.IsValid() {
		p.txNoSource.Inc()
		return
	}
	dst := stack.SolicitedNodeAddress(target)
	if unicast {
		dst = target
		p.txUnicastProbes.Inc()
	}
	ns := NeighborSolicitation{Target: target, SourceLinkAddr: nic.LinkAddress()}
	p.send(nic, src, dst, &ns)
	p.txNS.Inc()
}

// encoder is a message fields struct.
type encoder interface {
	Len() int
	Encode(b []byte)
}

// send builds m in a new packet with its checksum and sends it from src to
// dst on nic's link, hop limit 255. p.mu must not be held.
func (p *Protocol) send(nic *stack.NIC, src, dst netip.Addr, m encoder) {
	out := stack.NewPacket(stack.Headroom, m.Len())
	b := out.Bytes()
	m.Encode(b)
	SetChecksum(b, src, dst)
	r := nic.LinkRoute(src, dst)
	if err := r.WritePacket(stack.NetworkParams{Protocol: stack.ProtocolICMPv6, TTL: HopLimit}, out); err != nil {
		p.txErrors.Inc()
	}
}

func (p *Protocol) flush(nic *stack.NIC, mac stack.MAC, q []queued) {
	for _, w := range q {
		if err := nic.WriteLinkPacket(mac, stack.EtherTypeIPv6, w.p); err != nil {
			p.txErrors.Inc()
		}
	}
}

// fire is the timer callback of entry e.
func (p *Protocol) fire(e *entry) {
	p.mu.Lock()
	if p.closed || p.cache.m[e.key] != e || p.clock.Now().Before(e.deadline) {
		p.mu.Unlock()
		return
	}
	var (
		multicast, unicast bool
		failed             []queued
	)
	nic := e.key.nic
	switch e.state {
	case Incomplete:
		if e.probes < p.opts.MaxMulticastSolicit {
			e.probes++
			multicast = true
			p.arm(e, p.retransLocked(nic))
		} else {
			failed = e.takeQueue()
			p.cache.setState(e, Failed)
			p.cacheFailed.Inc()
			p.arm(e, p.opts.GCStaleTime)
		}
	case Reachable:
		p.cache.setState(e, Stale)
		p.arm(e, p.opts.GCStaleTime)
	case Stale, Failed:
		p.cache.remove(e)
	case Delay:
		p.cache.setState(e, Probe)
		e.probes = 1
		unicast = true
		p.arm(e, p.retransLocked(nic))
	case Probe:
		if e.probes < p.opts.MaxUnicastSolicit {
			e.probes++
			unicast = true
			p.arm(e, p.retransLocked(nic))
		} else {
			e.mac = stack.MAC{}
			p.cache.setState(e, Failed)
			p.cacheFailed.Inc()
			p.arm(e, p.opts.GCStaleTime)
		}
	}
	if !multicast && !unicast && failed == nil {
		p.mu.Unlock()
		return
	}
	p.running++
	p.mu.Unlock()

	addr := e.key.addr
	if multicast || unicast {
		p.solicit(nic, addr, unicast)
	}
	for _, w := range failed {
		p.txUnresolved.Inc()
		nic.Stack().ResolutionFailed(nic, addr, stack.EtherTypeIPv6, w.p)
	}
	p.mu.Lock()
	p.running--
	if p.running == 0 {
		p.idle.Broadcast()
	}
	p.mu.Unlock()
}

// HandleICMPv6 processes an inbound Neighbour Discovery message (data at
// the ICMPv6 header, checksum verified, p.NIC, p.Src, p.Dst and p.TTL
// set). Malformed messages are counted and dropped. It takes ownership of
// pkt.
func (p *Protocol) HandleICMPv6(pkt *stack.Packet) {
	defer pkt.Release()
	m := Message(pkt.Bytes())
	if err := Check(m, pkt.Src, pkt.Dst, pkt.TTL); err != nil {
		if re, ok := err.(*RxError); ok {
			p.rxDrop[re].Inc()
		}
		return
	}
	if pkt.NIC == nil {
		p.rxNoNIC.Inc()
		return
	}
	if pkt.NIC.IsL3() { // a TUN or packet channel: no link layer to discover
		p.rxL3Link.Inc()
		return
	}
	switch m.Type() {
	case TypeNeighborSolicitation:
		p.rxNS.Inc()
		p.handleNS(pkt, m)
	case TypeNeighborAdvertisement:
		p.rxNA.Inc()
		p.handleNA(pkt, m)
	case TypeRouterSolicitation:
		p.rxRS.Inc()
		p.handleRS(pkt, m)
	case TypeRouterAdvertisement:
		p.rxRA.Inc()
		p.handleRA(pkt, m)
	case TypeRedirect:
		// Validated and counted; redirects are not acted on yet.
		p.rxRedirect.Inc()
	}
}

func (p *Protocol) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Entries returns a snapshot of the neighbour cache sorted by interface
// and address; FormatTable prints it like `ip -6 neigh`.
func (p *Protocol) Entries() []Entry {
	p.mu.Lock()
	out := make([]Entry, 0, len(p.cache.m))
	for _, e := range p.cache.m {
		out = append(out, Entry{
			Addr: e.key.addr, MAC: e.mac, NIC: e.key.nic.Name(), State: e.state,
			Router: e.router, Queued: len(e.queue), QueuedBytes: e.qbytes,
		})
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int {
		if c := strings.Compare(a.NIC, b.NIC); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	return out
}

// Close stops every timer, releases waiting packets, ends running Probes
// and empties the tables. It sends a final advertisement with router
// lifetime 0 on each advertising interface (RFC 4861 6.2.5) first.
func (p *Protocol) Close() error {
	p.stopAllAdvertising()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	var drop []queued
	for _, e := range p.cache.m {
		drop = append(drop, e.takeQueue()...)
		p.cache.remove(e)
	}
	for _, ifc := range p.ifaces {
		ifc.stopTimers()
	}
	var dads []*probeState
	for _, st := range p.probing {
		dads = append(dads, st)
	}
	for p.running > 0 {
		p.idle.Wait()
	}
	p.mu.Unlock()
	for _, w := range drop {
		w.p.Release()
	}
	for _, st := range dads {
		p.finishDAD(st, stack.ErrClosed)
	}
	return nil
}
