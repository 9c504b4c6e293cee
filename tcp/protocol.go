package tcp

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// Ephemeral port range for Dial (Linux ip_local_port_range).
const (
	ephemeralFirst = 32768
	ephemeralLast  = 60999
)

// tuple identifies a connection.
type tuple struct {
	local, remote netip.AddrPort
}

// Protocol is TCP registered with one stack. It demultiplexes inbound
// segments to connections and listeners and answers the rest with RST.
type Protocol struct {
	s       *stack.Stack
	clock   stack.Clock
	cfg     config
	backlog int
	ctr     *counters
	// badAddress counts segments dropped for their addresses
	// (unicastPair).
	badAddress *stack.Counter
	secret     [16]byte
	// cookieSecret keys SYN cookies.
	cookieSecret [16]byte
	// portRand picks where the ephemeral port search starts; guarded by mu.
	portRand *mrand.Rand

	// fwd is the installed Forwarder, if any (forwarder.go).
	fwd atomic.Pointer[Forwarder]

	mu        sync.RWMutex
	conns     connTable     // demux.go
	tw        timeWaitTable // timewait.go
	listeners map[netip.AddrPort]*Listener
	closed    bool

	// cbs counts running timer callbacks so Close can wait for them.
	cbMu     sync.Mutex
	cbClosed bool
	cbs      sync.WaitGroup
	// timers are the clock timers of idle connections (timerbox.go).
	timers sync.Pool

	// tx are the senders of what application calls queue (afterUser),
	// one per CPU so that their system calls run in parallel; an
	// endpoint always uses the same one (senderOf).
	tx []sender

	// batch are the endpoints whose ACK waits for the end of a device's
	// batch (batch.go).
	batchMu sync.Mutex
	batch   []*endpoint
}

// Register creates the TCP protocol and registers it with s.
func Register(s *stack.Stack, opts Options) (*Protocol, error) {
	p := &Protocol{
		s:       s,
		clock:   s.Clock(),
		cfg:     opts.config(),
		backlog: opts.Backlog,
		ctr:     newCounters(s.Counters()),
		// tcp.rx.bad_address: segments to a multicast or broadcast
		// address, or from a multicast, unspecified or IPv4-mapped one.
		badAddress: s.Counters().Get("tcp.rx.bad_address"),
		listeners:  make(map[netip.AddrPort]*Listener),
		tw:         timeWaitTable{max: maxTimeWait},
	}
	if p.backlog <= 0 {
		p.backlog = 4096
	}
	p.cfg.mem.setCounters(s.Counters())
	p.cfg.mem.p = p
	p.cfg.base = p.clock.Now().Add(-1) // the origin of the connections' stamps (config.base)
	p.tx = make([]sender, min(runtime.GOMAXPROCS(0), maxSenders))
	if _, ok := newCongestionControl(p.cfg.cc); !ok {
		return nil, stack.NewError("tcp: unknown congestion control "+strconv.Quote(p.cfg.cc)+" (want one of "+ccChoices()+")", syscall.EINVAL)
	}
	src := opts.Rand
	if src == nil {
		src = rand.Reader
	}
	var portSeed [16]byte
	for _, b := range [][]byte{p.secret[:], p.cookieSecret[:], portSeed[:]} {
		if _, err := io.ReadFull(src, b); err != nil {
			return nil, err
		}
	}
	p.cfg.challenge = newChallengeCap(p.cfg.challengeMax, p.secret)
	p.conns.init(p.secret[:])
	p.portRand = mrand.New(mrand.NewPCG(binary.BigEndian.Uint64(portSeed[:8]), binary.BigEndian.Uint64(portSeed[8:])))
	if err := s.RegisterTransport(p); err != nil {
		return nil, err
	}
	return p, nil
}

// protocolOf returns the TCP protocol registered with s.
func protocolOf(s *stack.Stack) (*Protocol, error) {
	p, ok := s.Transport(stack.ProtocolTCP).(*Protocol)
	if !ok {
		return nil, errNoTCP
	}
	return p, nil
}

// Number returns 6.
func (p *Protocol) Number() uint8 { return stack.ProtocolTCP }

// enterCB registers a running timer callback; it reports false once the
// protocol is closed.
func (p *Protocol) enterCB() bool {
	p.cbMu.Lock()
	defer p.cbMu.Unlock()
	if p.cbClosed {
		return false
	}
	p.cbs.Add(1)
	return true
}

// isn is the RFC 6528 initial sequence number: a keyed hash of the
// 4-tuple (4-byte addresses for IPv4, 16-byte ones for IPv6) plus a 4-microsecond clock. tsOff is the connection's random
// timestamp offset, from the same hash (RFC 7323 section 5.4).
func (p *Protocol) isn(t tuple, now time.Time) (iss seqnum.Value, tsOff uint32) {
	var b [16 + 36]byte
	copy(b[:16], p.secret[:])
	n := 16 + putTuple(b[16:], t)
	h := sha256.Sum256(b[:n])
	return seqnum.Value(binary.BigEndian.Uint32(h[:]) + uint32(p.cfg.nanos(now)/4000)), binary.BigEndian.Uint32(h[4:])
}

// HandlePacket processes an inbound segment; it always takes ownership of
// p (a segment nobody wants is answered with RST, never with ICMP).
func (p *Protocol) HandlePacket(pkt *stack.Packet) bool {
	defer pkt.Release()
	h := Header(pkt.Bytes())
	if err := h.Validate(); err != nil {
		p.ctr.malformed.Inc()
		return true
	}
	if !pkt.ChecksumOK && !h.ChecksumValid(pkt.Src, pkt.Dst) {
		p.ctr.badChecksum.Inc()
		return true
	}
	p.ctr.rxSegments.Inc()
	seg := segment{
		seq:     seqnum.Value(h.Seq()),
		ack:     seqnum.Value(h.Ack()),
		flags:   h.Flags(),
		wnd:     h.Window(),
		payload: h.Payload(),
		batched: pkt.Batched,
	}
	if h.DataOffset() > HeaderLen {
		seg.opts, _ = ParseOptions(h.Options())
	}
	seg.ce = pkt.TOS&ecnMask == ecnCE // set by ipv4 / ipv6
	if seg.has(FlagRST) {
		p.ctr.rxRst.Inc()
	}
	if !unicastPair(pkt) {
		p.badAddress.Inc()
		return true
	}
	t := tuple{netip.AddrPortFrom(pkt.Dst.WithZone(""), h.DstPort()), netip.AddrPortFrom(pkt.Src.WithZone(""), h.SrcPort())}
	k := t.key()
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return true
	}
	e := p.conns.get(k)
	tw := e == nil && p.twInUseLocked(k)
	p.mu.RUnlock()
	if e != nil && e.deliver(&seg, pkt) {
		return true
	}
	// A connection that turned into a TIME_WAIT record since the lookup
	// (its endpoint refused the segment) is looked up again as one.
	if (tw || e != nil) && p.timeWaitSegment(t, k, &seg) {
		return true
	}
	fwd := p.forwarder()
	p.mu.RLock()
	l := p.listeners[t.local]
	if l == nil && (fwd == nil || p.s.IsLocalAddress(t.local.Addr())) {
		// Wildcard listeners take only our own addresses when a
		// forwarder takes the others.
		l = p.wildcardListenerLocked(t.local)
	}
	p.mu.RUnlock()
	if l != nil {
		l.handleSegment(t, &seg)
		if p.s.Tracer() != nil {
			p.traceListen(t)
		}
		return true
	}
	if fwd != nil && seg.flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN {
		fwd.handleSyn(t, &seg)
		return true
	}
	p.ctr.noEndpoint.Inc()
	p.sendReset(t, &seg)
	return true
}

// sendReset answers seg, which no connection wants, with a RST.
func (p *Protocol) sendReset(t tuple, seg *segment) {
	seq, ack, flags, ok := resetFor(seg)
	if !ok || !t.remote.Addr().IsValid() || t.remote.Addr().IsUnspecified() || t.remote.Addr().IsMulticast() {
		return
	}
	f := Fields{SrcPort: t.local.Port(), DstPort: t.remote.Port(), Seq: uint32(seq), Ack: uint32(ack), Flags: flags}
	p.sendBare(t, f, SegmentOptions{})
}

// sendBare sends segment f with opts and no payload on the reply route
// of t, for what answers without a connection (a RST, a TIME_WAIT
// record's ACK), if t has one.
func (p *Protocol) sendBare(t tuple, f Fields, opts SegmentOptions) {
	r, err := p.replyRoute(t)
	if err != nil || r.Broadcast {
		return
	}
	p.sendControl(r, f, &opts)
}

// HandleError fails a connection attempt that an ICMP error (or a local
// resolution failure) says cannot succeed, and applies a fragmentation-
// needed error's MTU to the connection it is about (path MTU discovery).
func (p *Protocol) HandleError(te stack.TransportError) {
	if len(te.Transport) < 8 {
		return
	}
	h := te.Transport
	t := tuple{
		netip.AddrPortFrom(te.Src.WithZone(""), binary.BigEndian.Uint16(h[0:])),
		netip.AddrPortFrom(te.Dst.WithZone(""), binary.BigEndian.Uint16(h[2:])),
	}
	seq := seqnum.Value(binary.BigEndian.Uint32(h[4:]))
	p.mu.RLock()
	e := p.conns.get(t.key())
	p.mu.RUnlock()
	if e == nil {
		return
	}
	e.mu.Lock()
	e.flush() // what an application call left for a sender leaves first, in order (afterUser)
	now := p.clock.Now()
	e.c.handleError(now, te.Kind, seq, pmtuForCore(t.remote.Addr(), te.MTU))
	e.afterCore(now)
	e.mu.Unlock()
}

// addConn inserts e; it fails if the tuple is taken.
func (p *Protocol) addConn(e *endpoint) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return stack.ErrClosed
	}
	k := e.id().key()
	if p.conns.get(k) != nil || p.twInUseLocked(k) {
		return stack.ErrAddressInUse
	}
	p.conns.put(k, e)
	return nil
}

func (p *Protocol) removeConn(e *endpoint) {
	p.mu.Lock()
	p.conns.remove(e.id().key(), e)
	p.mu.Unlock()
}

// portInUseLocked reports whether a listener owns port on addr (or on a
// wildcard address that takes addr's family). p.mu must be held.
func (p *Protocol) portInUseLocked(addr netip.Addr, port uint16) bool {
	if _, ok := p.listeners[netip.AddrPortFrom(addr, port)]; ok {
		return true
	}
	return p.wildcardListenerLocked(netip.AddrPortFrom(addr, port)) != nil
}

// wildcardListenerLocked returns the wildcard listener that takes
// connections to local, if any: for an IPv4 address the one on 0.0.0.0,
// else a dual-stack one on ::; for an IPv6 address the one on ::. p.mu
// must be held (for reading).
func (p *Protocol) wildcardListenerLocked(local netip.AddrPort) *Listener {
	port := local.Port()
	if local.Addr().Is4() {
		if l := p.listeners[netip.AddrPortFrom(netip.IPv4Unspecified(), port)]; l != nil {
			return l
		}
		if l := p.listeners[netip.AddrPortFrom(netip.IPv6Unspecified(), port)]; l != nil && !l.v6only {
			return l
		}
		return nil
	}
	return p.listeners[netip.AddrPortFrom(netip.IPv6Unspecified(), port)]
}

// pickEphemeralLocked returns a free local port for a connection from local
// to remote, starting at a random point of the range. p.mu must be held.
func (p *Protocol) pickEphemeralLocked(local, remote netip.AddrPort) (uint16, error) {
	n := ephemeralLast - ephemeralFirst + 1
	start := p.portRand.IntN(n)
	for i := range n {
		port := uint16(ephemeralFirst + (start+i)%n)
		if p.portInUseLocked(local.Addr(), port) {
			continue
		}
		if k := (tuple{netip.AddrPortFrom(local.Addr(), port), remote}.key()); p.conns.get(k) != nil || p.twInUseLocked(k) {
			continue
		}
		return port, nil
	}
	return 0, errNoPorts
}

// Close aborts every connection (with RST where the peer expects one) and
// listener, stops every timer, and returns when no goroutine of the
// package is left running.
func (p *Protocol) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ls := make([]*Listener, 0, len(p.listeners))
	for _, l := range p.listeners {
		ls = append(ls, l)
	}
	es := p.conns.appendTo(make([]*endpoint, 0, p.conns.len()))
	p.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	now := p.clock.Now()
	for _, e := range es {
		e.mu.Lock()
		e.c.abort()
		e.afterCore(now)
		e.mu.Unlock()
	}
	for i := range p.tx {
		p.tx[i].close()
	}
	p.mu.Lock()
	p.conns.clear()
	clear(p.listeners)
	p.twCloseLocked()
	p.mu.Unlock()
	p.cbMu.Lock()
	p.cbClosed = true
	p.cbMu.Unlock()
	p.cbs.Wait()
	return nil
}

// traceState reports e's state change to the stack's tracer, if any; a
// connection a listener made comes from LISTEN.
func (e *endpoint) traceState(from, st State) {
	if e.p.s.Tracer() == nil {
		return
	}
	if from == StateClosed && e.listener != nil && st == StateSynReceived {
		from = StateListen
	}
	e.p.s.TraceState("tcp", "connection", from.String(), st.String(), e.id().local, e.id().remote)
}

// traceListen reports the connection a listener made for t, if it made
// one: LISTEN → SYN_RECEIVED.
func (p *Protocol) traceListen(t tuple) {
	p.mu.RLock()
	e := p.conns.get(t.key())
	p.mu.RUnlock()
	if e != nil {
		p.s.TraceState("tcp", "connection", StateListen.String(), StateSynReceived.String(), t.local, t.remote)
	}
}
