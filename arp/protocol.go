// Package arp is the Address Resolution Protocol (RFC 826) for Ethernet and
// IPv4, with a neighbour cache shaped like Linux's: per-interface,
// per-next-hop entries in INCOMPLETE, REACHABLE, STALE, DELAY, PROBE,
// FAILED and PERMANENT states, a queue of packets waiting for resolution
// bounded by bytes as Linux bounds it (Options.QueueBytes), retransmitted
// and rate-limited requests, and a bounded table that a flood of ARP
// traffic cannot grow.
//
// Register it with a stack; it becomes the stack's network protocol for
// EtherType 0x0806 and the link resolver NICs use for unicast next hops.
//
// Behaviour worth knowing, mostly as Linux does it:
//
//   - A request for any address of the receiving interface is answered
//     with a unicast reply, also when its sender address is 0.0.0.0 (an
//     RFC 5227 probe), which is never learnt. Packets whose sender claims
//     one of our addresses are neither learnt nor answered (counted as
//     "arp.rx.conflict"), nor are our own frames looped back.
//
//   - RFC 826's merge rule: an ARP packet updates an existing entry for its
//     sender; a new entry (STALE) is created only from a request for one of
//     our addresses. Unsolicited replies do not create entries (Linux
//     arp_accept=0). A reply unicast to us makes an entry REACHABLE, any
//     other update STALE (keeping REACHABLE if the address is unchanged).
//
//   - A send to a FAILED entry starts a new resolution immediately (Linux
//     has no hold-down either); the FAILED entry itself is removed after
//     GCStaleTime.
//
//   - When the table is full, FAILED then STALE entries are evicted,
//     oldest first; if there are none, a new resolution fails with ENOBUFS
//     and a request is answered without being learnt.
//
//   - Static entries (AddStatic, flag M, state PERMANENT) are never aged,
//     evicted or changed by traffic. Published entries (AddPublished, flag
//     P) answer requests for an address or a prefix on another host's
//     behalf. Delete and Flush remove entries; FormatTable prints Entries
//     in the layout of Linux's `arp -n`.
//
//   - Address conflict detection (RFC 5227): Probe checks that an address
//     is free before it is assigned (ProbeAndAdd also assigns it); a host claiming one of our addresses
//     gets one defending announcement per DefendInterval. Requests are
//     rate-limited by a token bucket (RequestRate, RequestBurst).
//
// Not yet: upper-layer reachability hints (TCP progress confirming an
// entry), Linux's locktime.
package arp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Protocol is ARP on one stack: the network protocol for EtherType 0x0806,
// the stack's link resolver, and an address observer that announces new
// addresses. Its methods are safe for concurrent use.
type Protocol struct {
	s     *stack.Stack
	clock stack.Clock
	opts  Options

	mu    sync.Mutex
	idle  sync.Cond // signalled when running drops to zero after close
	cache cache
	// published holds the proxy entries (AddPublished).
	published []published
	// probing holds the Probes in progress; nprobing counts them so the
	// inbound path skips the lookup when there are none.
	probing  map[key]*probeState
	nprobing atomic.Int32
	// defended is when each of our addresses was last defended.
	defended map[key]time.Time
	// tokens and tokensAt are the request rate limiter's bucket.
	tokens   float64
	tokensAt time.Time
	closed   bool
	done     chan struct{} // closed by Close; ends running Probes
	running  int           // timer callbacks between their unlock and their writes

	rxMalformed     *stack.Counter
	rxRequests      *stack.Counter
	rxReplies       *stack.Counter
	rxUnknownOp     *stack.Counter
	rxBadAddress    *stack.Counter
	rxCacheFull     *stack.Counter
	rxLooped        *stack.Counter
	rxConflict      *stack.Counter
	txRequests      *stack.Counter
	txReplies       *stack.Counter
	txGratuitous    *stack.Counter
	txQueued        *stack.Counter
	txQueueOverflow *stack.Counter
	txUnresolved    *stack.Counter
	txCacheFull     *stack.Counter
	txErrors        *stack.Counter
	cacheEvicted    *stack.Counter
	cacheFailed     *stack.Counter
	txProbes        *stack.Counter
	txDefend        *stack.Counter
	defendLimited   *stack.Counter
	acdConflict     *stack.Counter
	txRateLimited   *stack.Counter
	txUnicastProbes *stack.Counter
	rxL3Link        *stack.Counter
}

var (
	_ stack.NetworkProtocol = (*Protocol)(nil)
	_ stack.LinkResolver    = (*Protocol)(nil)
	_ stack.AddressObserver = (*Protocol)(nil)
)

// Register creates ARP for s with opts (zero values take Linux-like
// defaults) and registers it as the network protocol for EtherType 0x0806
// and as the stack's link resolver.
func Register(s *stack.Stack, opts Options) (*Protocol, error) {
	c := s.Counters()
	p := &Protocol{
		s:     s,
		clock: s.Clock(),
		opts:  opts.withDefaults(),
		cache: cache{m: make(map[key]*entry)},

		probing:  make(map[key]*probeState),
		done:     make(chan struct{}),
		defended: make(map[key]time.Time),

		rxMalformed:     c.Get("arp.rx.malformed"),
		rxRequests:      c.Get("arp.rx.requests"),
		rxReplies:       c.Get("arp.rx.replies"),
		rxUnknownOp:     c.Get("arp.rx.unknown_op"),
		rxBadAddress:    c.Get("arp.rx.bad_address"),
		rxCacheFull:     c.Get("arp.rx.cache_full"),
		rxLooped:        c.Get("arp.rx.looped"),
		rxConflict:      c.Get("arp.rx.conflict"),
		txRequests:      c.Get("arp.tx.requests"),
		txReplies:       c.Get("arp.tx.replies"),
		txGratuitous:    c.Get("arp.tx.gratuitous"),
		txQueued:        c.Get("arp.tx.queued"),
		txQueueOverflow: c.Get("arp.tx.queue_overflow"),
		txUnresolved:    c.Get("arp.tx.unresolved"),
		txCacheFull:     c.Get("arp.tx.cache_full"),
		txErrors:        c.Get("arp.tx.errors"),
		cacheEvicted:    c.Get("arp.cache.evicted"),
		cacheFailed:     c.Get("arp.cache.failed"),
		txProbes:        c.Get("arp.tx.probes"),
		txDefend:        c.Get("arp.tx.defend"),
		defendLimited:   c.Get("arp.tx.defend_limited"),
		acdConflict:     c.Get("arp.acd.conflict"),
		txRateLimited:   c.Get("arp.tx.rate_limited"),
		txUnicastProbes: c.Get("arp.tx.unicast_probes"),
		rxL3Link:        c.Get(CounterRxL3Link),
	}
	p.tokens = float64(p.opts.RequestBurst)
	p.tokensAt = p.clock.Now()
	p.idle.L = &p.mu
	if err := s.RegisterNetwork(p); err != nil {
		return nil, err
	}
	return p, nil
}

// EtherType returns 0x0806.
func (p *Protocol) EtherType() uint16 { return stack.EtherTypeARP }

// arm (re)starts e's timer to fire d from now. p.mu must be held.
func (p *Protocol) arm(e *entry, d time.Duration) {
	e.deadline = p.clock.Now().Add(d)
	if e.timer == nil {
		e.timer = p.clock.AfterFunc(d, func() { p.fire(e) })
		return
	}
	e.timer.Reset(d)
}

// newEntry adds an entry for k, evicting a FAILED or STALE one when the
// table is full. It returns nil when the table is full of entries that
// cannot be evicted. p.mu must be held.
func (p *Protocol) newEntry(k key) *entry {
	if len(p.cache.m) >= p.opts.CacheSize {
		v := p.cache.victim()
		if v == nil {
			return nil
		}
		p.cache.remove(v)
		p.cacheEvicted.Inc()
	}
	e := &entry{key: k}
	p.cache.m[k] = e
	return e
}

// enqueue appends a packet to e's queue, first dropping the oldest
// packets (each counted as "arp.tx.queue_overflow") while the new one
// would take the queue over QueueBytes or QueueLen. Like Linux, a packet
// larger than QueueBytes on its own still waits, alone. p.mu must be held.
func (p *Protocol) enqueue(e *entry, pkt *stack.Packet, etherType uint16) {
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
	e.queue = append(e.queue, queued{pkt, etherType, size})
	e.qbytes += size
	p.txQueued.Inc()
}

// WriteTo sends pkt, a network packet of the given EtherType, to the link
// address of nextHop on nic. With a REACHABLE or STALE entry it writes at
// once and allocates nothing. Otherwise pkt waits in the next hop's queue
// (the oldest waiting packet is dropped when it is full) while broadcast
// requests go out every RetransTime, MaxProbes times; if none is answered,
// each waiting packet goes to Stack.ResolutionFailed. WriteTo takes
// ownership of pkt. It returns ErrClosed after Close, and ENOBUFS when the
// table is full of entries that cannot be evicted.
func (p *Protocol) WriteTo(nic *stack.NIC, nextHop netip.Addr, etherType uint16, pkt *stack.Packet) error {
	if nic.IsL3() {
		return writeL3(nic, etherType, pkt)
	}
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
			// Reconfirm an entry in use (RFC 4861 7.3.3, as Linux does
			// for ARP): wait DelayFirstProbeTime for a confirmation, then
			// probe it with unicast requests.
			p.cache.setState(e, Delay)
			e.probes = 0
			p.arm(e, p.opts.DelayFirstProbeTime)
		}
		p.mu.Unlock()
		return nic.WriteLinkPacket(mac, etherType, pkt)
	}
	if e != nil && e.state == Incomplete {
		p.enqueue(e, pkt, etherType)
		p.mu.Unlock()
		return nil
	}
	if !nextHop.Is4() || nextHop.IsUnspecified() || nextHop.IsMulticast() {
		p.mu.Unlock()
		pkt.Release()
		return fmt.Errorf("arp: cannot resolve next hop %v: %w", nextHop, stack.ErrInvalid)
	}
	if e == nil {
		if e = p.newEntry(k); e == nil {
			p.mu.Unlock()
			pkt.Release()
			p.txCacheFull.Inc()
			return fmt.Errorf("arp: neighbour table full (%d entries) resolving %v: %w", p.opts.CacheSize, nextHop, stack.ErrNoBufferSpace)
		}
	}
	// A new or FAILED entry: start resolving.
	p.cache.setState(e, Incomplete)
	e.mac = stack.MAC{}
	e.probes = 1
	p.enqueue(e, pkt, etherType)
	p.arm(e, p.opts.RetransTime)
	p.mu.Unlock()
	p.sendRequest(nic, nextHop)
	return nil
}

// HandlePacket processes an inbound ARP packet (data starting at the ARP
// header, p.NIC set): it drops and counts malformed ones, updates the cache
// by RFC 826's merge rule, and answers requests for the NIC's addresses.
// It takes ownership of pkt.
func (p *Protocol) HandlePacket(pkt *stack.Packet) {
	defer pkt.Release()
	h := Header(pkt.Bytes())
	if err := h.Validate(); err != nil {
		p.rxMalformed.Inc()
		return
	}
	op := h.Op()
	switch op {
	case OpRequest:
		p.rxRequests.Inc()
	case OpReply:
		p.rxReplies.Inc()
	default:
		p.rxUnknownOp.Inc()
		return
	}
	nic := pkt.NIC
	if nic == nil {
		p.rxMalformed.Inc()
		return
	}
	if nic.IsL3() {
		p.rxL3Link.Inc() // no ARP on a link without addresses
		return
	}
	sha, spa, tpa := h.SenderMAC(), h.SenderIP(), h.TargetIP()
	if p.nprobing.Load() > 0 && !sha.IsMulticast() && !sha.IsZero() && sha != nic.LinkAddress() &&
		p.checkProbes(nic, sha, spa, tpa) {
		// Another host claims, or probes for, an address we are probing
		// for. (Checked first: a reply to our probe has target 0.0.0.0.)
		return
	}
	if sha.IsMulticast() || sha.IsZero() || !unicastIP(tpa) ||
		!(unicastIP(spa) || spa.IsUnspecified()) {
		p.rxBadAddress.Inc()
		return
	}
	if sha == nic.LinkAddress() {
		// Our own frame, looped back by the segment.
		p.rxLooped.Inc()
		return
	}
	if nic.HasAddress(spa) {
		// Another host claims one of our addresses. Like Linux (whose
		// route check rejects a local source) we neither learn nor
		// answer; we defend the address with an announcement (RFC 5227
		// section 2.4 (b)), at most once per DefendInterval.
		p.rxConflict.Inc()
		p.defend(nic, spa)
		return
	}
	forUs := nic.HasAddress(tpa)
	// Probes (sender 0.0.0.0) are answered but not learnt.
	learn := !spa.IsUnspecified()

	var (
		flushMAC stack.MAC
		flushQ   []queued
		// answerMAC is the address a request is answered with: ours, or
		// that of a published entry.
		answer    = forUs && op == OpRequest
		answerMAC = nic.LinkAddress()
	)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if !forUs && op == OpRequest && spa != tpa && len(p.published) > 0 {
		answerMAC, answer = p.publishedFor(nic, tpa)
	}
	if learn {
		k := key{nic, spa}
		e := p.cache.m[k]
		switch {
		case e != nil && e.state == Permanent:
			// Static entries are not changed by traffic.
		case e != nil:
			next := Stale
			if op == OpReply && pkt.LinkDst == nic.LinkAddress() {
				next = Reachable
			}
			flushQ = p.update(e, sha, next)
			flushMAC = sha
		case answer:
			if e = p.newEntry(k); e == nil {
				p.rxCacheFull.Inc()
				break
			}
			p.update(e, sha, Stale)
		}
	}
	p.mu.Unlock()

	if flushQ != nil {
		p.flush(nic, flushMAC, flushQ)
	}
	if answer {
		p.send(nic, sha, Fields{
			Op:        OpReply,
			SenderMAC: answerMAC,
			SenderIP:  tpa,
			TargetMAC: sha,
			TargetIP:  spa,
		})
		p.txReplies.Inc()
	}
}

// unicastIP reports whether a is an IPv4 address a host may have.
func unicastIP(a netip.Addr) bool {
	return a.Is4() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// AddressAdded announces a new address with one gratuitous ARP: a broadcast
// request whose sender and target are both addr, so neighbours that know
// the address update their caches.
func (p *Protocol) AddressAdded(nic *stack.NIC, addr netip.Prefix) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed || !addr.Addr().Is4() || nic.IsL3() {
		return
	}
	p.announce(nic, addr.Addr())
}

// Entries returns a snapshot of the neighbour cache and the published
// entries, sorted by interface name and address (a neighbour entry before a
// published one for the same address). FormatTable prints it like `arp -n`.
func (p *Protocol) Entries() []Entry {
	p.mu.Lock()
	out := make([]Entry, 0, len(p.cache.m))
	for _, e := range p.cache.m {
		en := Entry{
			Addr:        e.key.addr,
			MAC:         e.mac,
			NIC:         e.key.nic.Name(),
			State:       e.state,
			Queued:      len(e.queue),
			QueuedBytes: e.qbytes,
		}
		if e.state.usable() {
			en.Flags |= FlagComplete
		}
		if e.state == Permanent {
			en.Flags |= FlagPermanent
		}
		out = append(out, en)
	}
	for _, pub := range p.published {
		en := Entry{
			Addr:   pub.prefix.Addr(),
			MAC:    pub.mac,
			NIC:    pub.nic.Name(),
			State:  Permanent,
			Flags:  FlagPermanent | FlagPublished,
			Prefix: pub.prefix,
		}
		if !pub.mac.IsZero() {
			en.Flags |= FlagComplete
		}
		out = append(out, en)
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int {
		if c := strings.Compare(a.NIC, b.NIC); c != 0 {
			return c
		}
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return int(a.Flags&FlagPublished) - int(b.Flags&FlagPublished)
	})
	return out
}

// Close stops every timer, releases every waiting packet and empties the
// cache. Later sends release their packet and return ErrClosed; inbound
// packets are dropped. Close returns once no timer callback of ours is
// still running.
func (p *Protocol) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.published = nil
	var drop []queued
	for _, e := range p.cache.m {
		drop = append(drop, e.takeQueue()...)
		p.cache.remove(e)
	}
	for p.running > 0 {
		p.idle.Wait()
	}
	p.mu.Unlock()
	for _, w := range drop {
		w.p.Release()
	}
	return nil
}
