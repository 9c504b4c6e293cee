// Package igmp is the host side of the Internet Group Management Protocol:
// IGMPv3 (RFC 3376) by default, falling back to IGMPv2 (RFC 2236) or v1
// (RFC 1112) while an older querier is heard (RFC 3376 7.2). It reports
// the IPv4 multicast groups the stack's interfaces join (stack.NIC.JoinGroup,
// udp.Conn.JoinGroup) so that routers and IGMP-snooping bridges send those
// groups' datagrams our way, and answers queries.
//
// Register it once per stack, beside ipv4:
//
//	ip, _ := ipv4.Register(s, ipv4.Options{})
//	g, _ := igmp.Register(s, igmp.Options{})
//
// It is the stack's transport for IP protocol 2 and a stack.GroupObserver.
// Reports carry the IP Router Alert option (RFC 2113), which it asks of
// the IPv4 writer through the OptionsWriter interface (ipv4.Protocol
// implements it); they go with TTL 1 to 224.0.0.22 (v3), the group (v1,
// v2 reports) or 224.0.0.2 (v2 leaves), from the interface's first IPv4
// address (0.0.0.0 before it has one, RFC 3376 4.2.13). The all-systems
// group 224.0.0.1 is never reported.
//
// Only any-source membership exists (a group is joined for every source,
// EXCLUDE{} in RFC 3376 terms): a join is reported as TO_EX{}, a leave as
// TO_IN{}, each robustness times (2 unless a querier's QRV says otherwise)
// at random intervals up to 1 s; queries are answered after a random
// delay up to their max response time.
package igmp

import (
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// OptionsWriter is implemented by IPv4 writers that send with IP options
// (ipv4.Protocol.WritePacketOptions).
type OptionsWriter interface {
	// WritePacketOptions is stack.IPWriter.WritePacket with the encoded
	// option list opts in the IP header. It takes ownership of p.
	WritePacketOptions(r *stack.Route, params stack.NetworkParams, opts []byte, p *stack.Packet) error
}

// routerAlert is the IPv4 Router Alert option (RFC 2113): type 148,
// length 4, value 0 (examine the packet).
var routerAlert = []byte{148, 4, 0, 0}

// Options configure IGMP. The zero value gives RFC defaults.
type Options struct {
	// Jitter returns a random duration in [0, d], the delays RFC 3376
	// asks for; nil means uniformly random. Tests make it deterministic.
	Jitter func(d time.Duration) time.Duration
}

// Protocol is IGMP on one stack. It implements stack.TransportProtocol,
// stack.GroupObserver and io.Closer (Stack.Close closes it).
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
	rxTooShort, rxBadChecksum, rxBadQuery, rxBadReport *stack.Counter
	rxQueries, rxV1Queries, rxV2Queries, rxReports     *stack.Counter
	rxIgnored, rxUnknownType                           *stack.Counter
	txReports, txLeaves, txErrors, overLimit           *stack.Counter
}

var (
	_ stack.TransportProtocol = (*Protocol)(nil)
	_ stack.GroupObserver     = (*Protocol)(nil)
	_ io.Closer               = (*Protocol)(nil)
)

// Register creates IGMP on s: the transport for IP protocol 2 and an
// observer of group joins and leaves. Groups the NICs joined before are
// adopted without a report (a query will find them).
func Register(s *stack.Stack, opts Options) (*Protocol, error) {
	if opts.Jitter == nil {
		opts.Jitter = randomJitter
	}
	g := s.Counters().Get
	p := &Protocol{
		s:    s,
		opts: opts,
		ifs:  make(map[*stack.NIC]*iface),
		c: counters{
			rxTooShort:    g("igmp.rx.too_short"),
			rxBadChecksum: g("igmp.rx.bad_checksum"),
			rxBadQuery:    g("igmp.rx.bad_query"),
			rxBadReport:   g("igmp.rx.bad_report"),
			rxQueries:     g("igmp.rx.queries"),
			rxV1Queries:   g("igmp.rx.v1_queries"),
			rxV2Queries:   g("igmp.rx.v2_queries"),
			rxReports:     g("igmp.rx.reports"),
			rxIgnored:     g("igmp.rx.ignored"),
			rxUnknownType: g("igmp.rx.unknown_type"),
			txReports:     g("igmp.tx.reports"),
			txLeaves:      g("igmp.tx.leaves"),
			txErrors:      g("igmp.tx.errors"),
			overLimit:     g("igmp.groups_over_limit"),
		},
	}
	if err := s.RegisterTransport(p); err != nil {
		return nil, err
	}
	for _, n := range s.NICs() {
		f := p.iface(n)
		for _, grp := range n.Groups() {
			if reportable(grp) && len(f.groups) < MaxGroups {
				f.groups[grp] = &group{member: true}
			}
		}
	}
	s.AddObserver(p)
	return p, nil
}

// randomJitter is uniform in [0, d].
func randomJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// Number returns 2.
func (*Protocol) Number() uint8 { return stack.ProtocolIGMP }

// iface returns n's state, creating it; p.mu is held.
func (p *Protocol) iface(n *stack.NIC) *iface {
	f := p.ifs[n]
	if f == nil {
		f = newIface(p.opts.Jitter, p.c.overLimit.Inc)
		p.ifs[n] = f
	}
	return f
}

// GroupJoined reports a new IPv4 group on nic; it implements
// stack.GroupObserver. IPv6 groups are MLD's.
func (p *Protocol) GroupJoined(nic *stack.NIC, g netip.Addr) {
	if !g.Is4() {
		return
	}
	p.event(nic, func(f *iface, now time.Time) []message { return f.join(now, g) })
}

// GroupLeft reports that nic left an IPv4 group; it implements
// stack.GroupObserver.
func (p *Protocol) GroupLeft(nic *stack.NIC, g netip.Addr) {
	if !g.Is4() {
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

// rearm schedules the timer for the earliest pending action; p.mu is
// held.
func (p *Protocol) rearm(now time.Time) {
	var at time.Time
	for _, f := range p.ifs {
		if t := f.next(); !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if at.IsZero() || (!p.timerAt.IsZero() && !p.timerAt.After(at)) {
		return // nothing to do, or the timer fires sooner anyway
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
		if msgs := f.tick(now, nic.MTU()-24); len(msgs) > 0 {
			out = append(out, batch{nic, msgs})
		}
	}
	p.rearm(now)
	p.mu.Unlock()
	for _, b := range out {
		p.send(b.nic, b.msgs)
	}
}

// send transmits msgs out of nic with TTL 1, Internetwork Control
// precedence (as Linux) and the Router Alert option.
func (p *Protocol) send(nic *stack.NIC, msgs []message) {
	if len(msgs) == 0 {
		return
	}
	src := netip.IPv4Unspecified()
	for _, a := range nic.Addresses() {
		if a.Addr().Is4() {
			src = a.Addr()
			break
		}
	}
	w := p.s.IP(stack.EtherTypeIPv4)
	params := stack.NetworkParams{Protocol: stack.ProtocolIGMP, TTL: 1, TOS: 0xc0}
	for _, m := range msgs {
		if w == nil {
			p.c.txErrors.Inc()
			continue
		}
		r := nic.LinkRoute(src, m.dst)
		pkt := stack.NewPacket(stack.Headroom, len(m.data))
		copy(pkt.Bytes(), m.data)
		var err error
		if ow, ok := w.(OptionsWriter); ok {
			err = ow.WritePacketOptions(&r, params, routerAlert, pkt)
		} else {
			err = w.WritePacket(&r, params, pkt)
		}
		switch {
		case err != nil:
			p.c.txErrors.Inc()
		case m.data[0] == TypeV2Leave:
			p.c.txLeaves.Inc()
		default:
			p.c.txReports.Inc()
		}
	}
}

// HandlePacket processes an inbound IGMP message (data at the IGMP
// header, p.NIC set); it always takes ownership. Bad messages are counted
// and dropped.
func (p *Protocol) HandlePacket(pkt *stack.Packet) bool {
	defer pkt.Release()
	m := Message(pkt.Bytes())
	switch m.Validate() {
	case nil:
	case ErrTooShort:
		p.c.rxTooShort.Inc()
		return true
	default:
		p.c.rxBadChecksum.Inc()
		return true
	}
	nic := pkt.NIC
	if nic == nil {
		p.c.rxIgnored.Inc()
		return true
	}
	switch m.Type() {
	case TypeQuery:
		q := Query(m)
		if q.ValidateQuery() != nil || (q.Group().IsValid() && !q.Group().IsUnspecified() && !q.Group().IsMulticast()) {
			p.c.rxBadQuery.Inc()
			return true
		}
		p.c.rxQueries.Inc()
		switch q.Version() {
		case 1:
			p.c.rxV1Queries.Inc()
		case 2:
			p.c.rxV2Queries.Inc()
		}
		p.event(nic, func(f *iface, now time.Time) []message { f.query(now, q); return nil })
	case TypeV1Report, TypeV2Report:
		p.c.rxReports.Inc()
		g := m.Group()
		p.event(nic, func(f *iface, now time.Time) []message { f.reportHeard(now, g); return nil })
	case TypeV3Report:
		if Report(m).ValidateReport() != nil {
			p.c.rxBadReport.Inc()
			return true
		}
		p.c.rxIgnored.Inc() // routers' business; v3 hosts do not suppress
	case TypeV2Leave:
		p.c.rxIgnored.Inc()
	default:
		p.c.rxUnknownType.Inc()
	}
	return true
}

// HandleError ignores ICMP errors: nobody answers IGMP with one.
func (*Protocol) HandleError(stack.TransportError) {}

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

// Groups returns the IPv4 groups IGMP reports on nic, sorted, for status
// pages.
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

// Version returns the IGMP version IGMP speaks on nic now: 3, or 2 or 1
// while an older querier is present.
func (p *Protocol) Version(nic *stack.NIC) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.ifs[nic]; f != nil {
		return f.mode(p.s.Clock().Now())
	}
	return 3
}
