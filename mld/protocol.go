// Package mld is the host side of Multicast Listener Discovery: MLDv2 (RFC
// 3810) by default, falling back to MLDv1 (RFC 2710) while an MLDv1
// querier is heard (RFC 3810 8.2). It reports the IPv6 multicast groups
// the stack's interfaces join (stack.NIC.JoinGroup: solicited-node groups
// from Neighbour Discovery, udp.Conn.JoinGroup) so that MLD-snooping
// bridges and routers deliver them to us, and answers queries.
//
// Register it once per stack, beside the IPv6 layer:
//
//	m, _ := mld.Register(s, mld.Options{})
//
// It handles ICMPv6 types 130, 131, 132 and 143 (Stack.SetICMPv6Handler)
// and observes group joins and leaves (Stack.AddObserver). Reports go to
// ff02::16 (MLDv2), the group (MLDv1 reports) or ff02::2 (MLDv1 dones),
// from the interface's link-local address (:: before it has one, RFC 3810
// 5.2.13), with hop limit 1 and the Hop-by-Hop Router Alert option (RFC
// 2711, value 0: MLD). The IPv6 writer sends the hop-by-hop header when it
// implements HopByHopWriter (ipv6.Protocol does); otherwise the report goes
// without it, counted as mld.tx.no_router_alert.
// ff02::1 and groups of scope 0 or 1 are never reported (RFC 3810 6).
//
// Only any-source membership exists: a join is reported as TO_EX{}, a
// leave as TO_IN{}, robustness times (2 unless a querier's QRV says
// otherwise) within 1 s; queries are answered after a random delay up to
// their maximum response delay, by the rules of RFC 3810 6.2.
package mld

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// HopByHopWriter is implemented by IPv6 writers (s.IP(stack.EtherTypeIPv6))
// that send a packet with a Hop-by-Hop Options header.
//
// hbh is a complete Hop-by-Hop Options header (RFC 8200 4.3: next header,
// header extension length, options, a multiple of 8 bytes) whose Next
// Header byte is already params.Protocol. The writer puts it between the
// IPv6 header and p's data, sets the IPv6 Next Header to 0 and counts it in
// the payload length; params.TTL is the hop limit. It takes ownership of p.
// MLD's hbh is the 8 bytes 58, 0, 5, 2, 0, 0, 1, 0: Router Alert (type 5,
// value 0) and a PadN of two bytes.
type HopByHopWriter interface {
	WriteWithHopByHop(r *stack.Route, params stack.NetworkParams, hbh []byte, p *stack.Packet) error
}

// routerAlertHBH is the Hop-by-Hop header of every MLD message (RFC 3810
// 5, RFC 2711): next header ICMPv6, length 0 (8 bytes), Router Alert
// option with value 0 (MLD), PadN of 0 data bytes.
var routerAlertHBH = []byte{stack.ProtocolICMPv6, 0, 5, 2, 0, 0, 1, 0}

// ipv6Overhead is what an MLD report carries besides itself: the IPv6
// header and the hop-by-hop header.
const ipv6Overhead = 40 + 8

// Options configure MLD. The zero value gives RFC defaults.
type Options struct {
	// Jitter returns a random duration in [0, d]; nil means uniformly
	// random. Tests make it deterministic.
	Jitter func(d time.Duration) time.Duration
}

// Protocol is MLD on one stack. It implements stack.ICMPv6Handler and
// stack.GroupObserver.
type Protocol struct {
	s    *stack.Stack
	opts Options

	mu      sync.Mutex
	ifs     map[*stack.NIC]*iface
	timer   stack.Timer
	timerAt time.Time
	closed  bool

	c counters
}

type counters struct {
	rxTooShort, rxBadSource, rxBadHopLimit, rxBadQuery, rxBadReport *stack.Counter
	rxQueries, rxV1Queries, rxReports, rxIgnored                    *stack.Counter
	txReports, txDones, txErrors, txNoRouterAlert, overLimit        *stack.Counter
}

var (
	_ stack.ICMPv6Handler = (*Protocol)(nil)
	_ stack.GroupObserver = (*Protocol)(nil)
)

// Register creates MLD on s: the handler of ICMPv6 types 130, 131, 132
// and 143 and an observer of group joins and leaves. Groups the NICs
// joined before are adopted without a report (a query will find them).
// Close stops its timer; Stack.Close does not know MLD, so whoever
// registers it closes it.
func Register(s *stack.Stack, opts Options) (*Protocol, error) {
	if opts.Jitter == nil {
		opts.Jitter = func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d + 1)
		}
	}
	g := s.Counters().Get
	p := &Protocol{
		s:    s,
		opts: opts,
		ifs:  make(map[*stack.NIC]*iface),
		c: counters{
			rxTooShort:      g("mld.rx.too_short"),
			rxBadSource:     g("mld.rx.bad_source"),
			rxBadHopLimit:   g("mld.rx.bad_hop_limit"),
			rxBadQuery:      g("mld.rx.bad_query"),
			rxBadReport:     g("mld.rx.bad_report"),
			rxQueries:       g("mld.rx.queries"),
			rxV1Queries:     g("mld.rx.v1_queries"),
			rxReports:       g("mld.rx.reports"),
			rxIgnored:       g("mld.rx.ignored"),
			txReports:       g("mld.tx.reports"),
			txDones:         g("mld.tx.dones"),
			txErrors:        g("mld.tx.errors"),
			txNoRouterAlert: g("mld.tx.no_router_alert"),
			overLimit:       g("mld.groups_over_limit"),
		},
	}
	p.mu.Lock()
	for _, n := range s.NICs() {
		f := p.iface(n)
		for _, grp := range n.Groups() {
			if reportable(grp) && len(f.groups) < MaxGroups {
				f.groups[grp] = &group{member: true}
			}
		}
	}
	p.mu.Unlock()
	for _, typ := range []uint8{TypeQuery, TypeV1Report, TypeV1Done, TypeV2Report} {
		s.SetICMPv6Handler(typ, p)
	}
	s.AddObserver(p)
	return p, nil
}

// iface returns n's state, creating it; p.mu is held.
func (p *Protocol) iface(n *stack.NIC) *iface {
	f := p.ifs[n]
	if f == nil {
		f = newIface(p.opts.Jitter, p.c.overLimit.Inc)
		p.ifs[n] = f
	}
	return f
}

// GroupJoined reports a new IPv6 group on nic; it implements
// stack.GroupObserver. IPv4 groups are IGMP's.
func (p *Protocol) GroupJoined(nic *stack.NIC, g netip.Addr) {
	if !g.Is6() {
		return
	}
	p.event(nic, func(f *iface, now time.Time) []message { return f.join(now, g) })
}

// GroupLeft reports that nic left an IPv6 group.
func (p *Protocol) GroupLeft(nic *stack.NIC, g netip.Addr) {
	if !g.Is6() {
		return
	}
	p.event(nic, func(f *iface, now time.Time) []message { return f.leave(now, g) })
}

// event runs fn on nic's state under the lock, re-arms the timer and sends
// what fn returned.
func (p *Protocol) event(nic *stack.NIC, fn func(*iface, time.Time) []message) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	now := p.s.Clock().Now()
	msgs := fn(p.iface(nic), now)
	p.rearm(now)
	p.mu.Unlock()
	p.send(nic, msgs)
}

// rearm schedules the timer for the earliest pending action; p.mu is held.
func (p *Protocol) rearm(now time.Time) {
	var at time.Time
	for _, f := range p.ifs {
		if t := f.next(); !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if at.IsZero() || (!p.timerAt.IsZero() && !p.timerAt.After(at)) {
		return
	}
	p.timerAt = at
	d := max(at.Sub(now), 0)
	if p.timer == nil {
		p.timer = p.s.Clock().AfterFunc(d, p.fire)
	} else {
		p.timer.Reset(d)
	}
}

// fire sends whatever is due on every interface.
func (p *Protocol) fire() {
	type batch struct {
		nic  *stack.NIC
		msgs []message
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	now := p.s.Clock().Now()
	p.timerAt = time.Time{}
	var out []batch
	for nic, f := range p.ifs {
		if msgs := f.tick(now, nic.MTU()-ipv6Overhead); len(msgs) > 0 {
			out = append(out, batch{nic, msgs})
		}
	}
	p.rearm(now)
	p.mu.Unlock()
	for _, b := range out {
		p.send(b.nic, b.msgs)
	}
}

// linkLocal returns nic's first link-local address, or :: (RFC 3810
// 5.2.13: a report sent before the interface has one uses ::).
func linkLocal(nic *stack.NIC) netip.Addr {
	for _, a := range nic.Addresses() {
		if a.Addr().Is6() && a.Addr().IsLinkLocalUnicast() {
			return a.Addr()
		}
	}
	return netip.IPv6Unspecified()
}

// send transmits msgs out of nic: hop limit 1, Router Alert, checksum over
// the pseudo-header of the link-local source and the destination.
func (p *Protocol) send(nic *stack.NIC, msgs []message) {
	if len(msgs) == 0 {
		return
	}
	src := linkLocal(nic)
	w := p.s.IP(stack.EtherTypeIPv6)
	params := stack.NetworkParams{Protocol: stack.ProtocolICMPv6, TTL: 1}
	for _, m := range msgs {
		if w == nil {
			p.c.txErrors.Inc()
			continue
		}
		SetChecksum(m.data, src, m.dst)
		r := nic.LinkRoute(src, m.dst)
		pkt := stack.NewPacket(stack.Headroom, len(m.data))
		copy(pkt.Bytes(), m.data)
		var err error
		if hw, ok := w.(HopByHopWriter); ok {
			err = hw.WriteWithHopByHop(&r, params, routerAlertHBH, pkt)
		} else {
			p.c.txNoRouterAlert.Inc()
			err = w.WritePacket(&r, params, pkt)
		}
		switch {
		case err != nil:
			p.c.txErrors.Inc()
		case m.data[0] == TypeV1Done:
			p.c.txDones.Inc()
		default:
			p.c.txReports.Inc()
		}
	}
}

// HandleICMPv6 processes an inbound MLD message (data at the ICMPv6
// header, checksum verified, p.NIC, p.Src, p.TTL set); it implements
// stack.ICMPv6Handler and takes ownership of pkt. Messages must come from
// a link-local source with hop limit 1 (RFC 3810 5.1.14, 5.2.13, 6.2;
// RFC 2710 5); others are counted and dropped.
func (p *Protocol) HandleICMPv6(pkt *stack.Packet) {
	defer pkt.Release()
	m := Message(pkt.Bytes())
	nic := pkt.NIC
	switch {
	case m.Validate() != nil:
		p.c.rxTooShort.Inc()
		return
	case !pkt.Src.IsLinkLocalUnicast() && !(m.Type() != TypeQuery && pkt.Src.IsUnspecified()):
		p.c.rxBadSource.Inc()
		return
	case pkt.TTL != 1:
		p.c.rxBadHopLimit.Inc()
		return
	case nic == nil:
		p.c.rxIgnored.Inc()
		return
	}
	switch m.Type() {
	case TypeQuery:
		q := Query(m)
		if q.ValidateQuery() != nil || (!q.Address().IsUnspecified() && !q.Address().IsMulticast()) {
			p.c.rxBadQuery.Inc()
			return
		}
		p.c.rxQueries.Inc()
		if q.Version() == 1 {
			p.c.rxV1Queries.Inc()
		}
		p.event(nic, func(f *iface, now time.Time) []message { f.query(now, q); return nil })
	case TypeV1Report:
		p.c.rxReports.Inc()
		g := m.Address()
		p.event(nic, func(f *iface, now time.Time) []message { f.reportHeard(now, g); return nil })
	case TypeV2Report:
		if Report(m).ValidateReport() != nil {
			p.c.rxBadReport.Inc()
			return
		}
		p.c.rxIgnored.Inc()
	default: // done: routers' business
		p.c.rxIgnored.Inc()
	}
}

// Close stops the timer; later joins and queries are ignored.
func (p *Protocol) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	return nil
}

// Groups returns the IPv6 groups MLD reports on nic, sorted.
func (p *Protocol) Groups(nic *stack.NIC) []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.ifs[nic]
	if f == nil {
		return nil
	}
	var out []netip.Addr
	for _, g := range f.sortedGroups() {
		if f.groups[g].member {
			out = append(out, g)
		}
	}
	return out
}

// Version returns the MLD version spoken on nic now: 2, or 1 while an
// MLDv1 querier is present.
func (p *Protocol) Version(nic *stack.NIC) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.ifs[nic]; f != nil {
		return f.mode(p.s.Clock().Now())
	}
	return 2
}
