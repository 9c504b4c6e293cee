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

// Options configure the protocol. The zero value gives Linux-like defaults.
type Options struct {
	// ReceiveBufferSize is each connection's initial receive buffer (and so
	// its initial window); default 256 KiB. Auto-tuning grows it up to
	// MaxReceiveBuffer while the application keeps up.
	ReceiveBufferSize int
	// MaxReceiveBuffer bounds receive-buffer auto-tuning (tcp_rmem[2]);
	// default 6 MiB. It also sets the window scale offered in the SYN.
	MaxReceiveBuffer int
	// SendBufferSize is each connection's initial send buffer; default
	// 256 KiB. Auto-tuning grows it with the congestion window up to
	// MaxSendBuffer, unless the application sets it (SetWriteBuffer).
	SendBufferSize int
	// MaxSendBuffer bounds send-buffer auto-tuning (tcp_wmem[2]); default
	// 4 MiB, as on Linux. A value at or below SendBufferSize turns
	// auto-tuning off.
	MaxSendBuffer int
	// TimeWait is how long a connection stays in TIME_WAIT (2*MSL);
	// default 60s like Linux.
	TimeWait time.Duration
	// FinTimeout bounds FIN_WAIT_2 after Close (tcp_fin_timeout); default 60s.
	FinTimeout time.Duration
	// MinRTO, MaxRTO and InitialRTO bound the retransmission timeout;
	// defaults 200ms, 120s and 1s (Linux).
	MinRTO, MaxRTO, InitialRTO time.Duration
	// MaxRetransmits is how many times a data segment is retransmitted
	// before the connection fails with ETIMEDOUT; default 15 (tcp_retries2).
	MaxRetransmits int
	// SynRetries is the same for a SYN; default 6 (tcp_syn_retries).
	SynRetries int
	// SynAckRetries is the same for a SYN-ACK; default 5.
	SynAckRetries int
	// Backlog bounds each listener's queue of established connections not
	// yet accepted; default 4096 (somaxconn, which Go's net.Listen uses).
	// While it is full, SYNs and handshake-completing ACKs are dropped (the
	// peer retransmits), as on Linux.
	Backlog int
	// SynBacklog bounds each listener's half-open connections (the SYN
	// queue); default 1024. Beyond it the listener answers with SYN
	// cookies (RFC 4987) and keeps no state, unless DisableSynCookies.
	SynBacklog int
	// DisableSynCookies drops SYNs beyond SynBacklog instead.
	DisableSynCookies bool
	// DisableWindowScaling turns off the RFC 7323 window scale option,
	// which caps the window at 64 KiB.
	DisableWindowScaling bool
	// DisableTimestamps turns off RFC 7323 timestamps (and so PAWS and
	// timestamp RTT measurement).
	DisableTimestamps bool
	// DisableSACK turns off selective acknowledgments (RFC 2018) and
	// SACK-based loss recovery (RFC 6675).
	DisableSACK bool
	// DisableTLP turns off Tail Loss Probes (RFC 8985 section 7; Linux
	// tcp_early_retrans = 0): a lost tail of a flight then waits for the
	// retransmission timeout.
	DisableTLP bool
	// LossDetection selects loss detection with SACK: LossRACK (RFC
	// 8985, the default, as on Linux) or LossDupAck (RFC 6675's
	// duplicate ACK threshold). Without SACK it is always NewReno's
	// duplicate ACKs (RFC 6582).
	LossDetection LossDetection
	// CongestionControl names the congestion control algorithm:
	// "cubic" (RFC 9438, the default, as on Linux), "reno" (NewReno,
	// RFC 5681/6582) or one added with RegisterCongestionControl.
	CongestionControl string
	// DelayedAck is the delayed-ACK timeout; default 40ms (Linux's
	// minimum ATO). A negative value acknowledges every segment at once.
	DelayedAck time.Duration
	// KeepAliveIdle, KeepAliveInterval and KeepAliveProbes are the
	// keepalive parameters of a connection that enables keepalive;
	// defaults 2h, 75s and 9 (tcp_keepalive_time, _intvl, _probes).
	KeepAliveIdle, KeepAliveInterval time.Duration
	KeepAliveProbes                  int
	// InvalidAckInterval is the least time between two ACKs one
	// connection sends in answer to segments it rejects (Linux
	// tcp_invalid_ratelimit); default 500ms, rounded up to whole
	// milliseconds; negative: no limit. It covers RFC 5961 challenge ACKs
	// (for an in-window RST or SYN, an ACK older than the peer's largest
	// window or beyond what was sent) and the duplicate ACKs for pure ACKs
	// and SYNs that fail the sequence number or PAWS test or that repeat
	// the SYN in SYN_RECEIVED. Rejected segments that carry data or a FIN
	// are always acknowledged, as on Linux: they are no ACK loop, and
	// their sender (a retransmission, a zero-window probe) needs the ACK.
	// The limit is per connection so that what a connection sends depends
	// only on what arrives for it: a stack-wide budget is a side channel
	// that lets an off-path attacker reset connections and inject data
	// into them (CVE-2016-5696).
	InvalidAckInterval time.Duration
	// ChallengeAckLimit, when positive, also caps RFC 5961 challenge ACKs
	// over all connections at a budget drawn at random each second from
	// [ChallengeAckLimit/2, 3*ChallengeAckLimit/2) (Linux 4.7 to 5.19,
	// tcp_challenge_ack_limit). The default, 0, is no global cap, as on
	// Linux since 6.0: InvalidAckInterval already bounds what each
	// connection sends (2 challenge ACKs per second by default); a shared
	// budget lets one attacker spend it so that other connections cannot
	// answer a peer that lost its state, and, randomised or not, it is
	// state an attacker can sample. Values above 2^30 count as 2^30.
	ChallengeAckLimit int
	// RequestECN asks for Explicit Congestion Notification (RFC 3168) in
	// the SYNs of Dial (Linux tcp_ecn = 1). By default ECN is only
	// accepted when a peer asks for it (tcp_ecn = 2); DisableECN refuses
	// it too (tcp_ecn = 0). With ECN, new data is sent ECN-capable, a
	// congestion mark is echoed, and an echoed mark halves the window
	// as a loss would, at most once per window, without a retransmission.
	RequestECN, DisableECN bool
	// MemoryLimit bounds the memory of all connections' send, receive and
	// out-of-order buffers together, in allocated bytes (Linux tcp_mem[2]);
	// default 32 MiB (DefaultMemoryLimit); negative: no limit. At the
	// limit Write waits until memory is freed, in-order data beyond the
	// buffers connections have is dropped (the peer retransmits; counter
	// tcp.mem.rx_dropped_nomem) after their out-of-order data, and windows
	// advertise only what fits. Each direction of a connection may always
	// hold 4 KiB (tcp_rmem[0], tcp_wmem[0]), beyond the limit if need be,
	// so that connections keep working while others hold the budget.
	MemoryLimit int
	// MemoryPressure is the use from which receive windows stop growing
	// (tcp_mem[1]): no auto-tuning, no window beyond the buffer a
	// connection already has, out-of-order data only within the 4 KiB
	// minimum; default 3/4 of MemoryLimit. Pressure ends when use falls
	// below half the limit (tcp_mem[0]).
	MemoryPressure int
	// Rand is the source of the protocol's random choices: the ISN and
	// timestamp-offset secret (RFC 6528), the SYN cookie secret and the
	// ephemeral ports Dial and Listen pick. Nil means crypto/rand. A
	// simulation passes a seeded reader to make runs reproducible; never
	// do that on a real network (predictable ISNs invite blind attacks).
	Rand io.Reader
}

func (o Options) config() config {
	def := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	dur := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	cfg := config{
		rcvBuf:        def(o.ReceiveBufferSize, 256<<10),
		maxRcvBuf:     def(o.MaxReceiveBuffer, 6<<20),
		sndBuf:        def(o.SendBufferSize, 256<<10),
		maxSndBuf:     def(o.MaxSendBuffer, 4<<20),
		timeWait:      dur(o.TimeWait, 60*time.Second),
		finTimeout:    dur(o.FinTimeout, 60*time.Second),
		minRTO:        dur(o.MinRTO, 200*time.Millisecond),
		maxRTO:        dur(o.MaxRTO, 120*time.Second),
		initRTO:       dur(o.InitialRTO, time.Second),
		maxRetries:    def(o.MaxRetransmits, 15),
		synRetries:    def(o.SynRetries, 6),
		synAckRetries: def(o.SynAckRetries, 5),
		windowScale:   !o.DisableWindowScaling,
		timestamps:    !o.DisableTimestamps,
		sack:          !o.DisableSACK,
		noTLP:         o.DisableTLP,
		lossDetection: o.LossDetection,
		cc:            o.CongestionControl,
		delAck:        dur(o.DelayedAck, 40*time.Millisecond),
		kaIdle:        dur(o.KeepAliveIdle, 2*time.Hour),
		kaIntvl:       dur(o.KeepAliveInterval, 75*time.Second),
		kaProbes:      def(o.KeepAliveProbes, 9),
		synBacklog:    def(o.SynBacklog, 1024),
		synCookies:    !o.DisableSynCookies,
		invalidAckMs:  invalidAckMs(o.InvalidAckInterval),
		challengeMax:  max(o.ChallengeAckLimit, 0),
		ecnRequest:    o.RequestECN && !o.DisableECN,
		ecnAccept:     !o.DisableECN,
		mem:           newMemBudget(o.MemoryLimit, o.MemoryPressure),
	}
	if o.DelayedAck < 0 {
		cfg.delAck = 0
	}
	if cfg.cc == "" {
		cfg.cc = "cubic"
	}
	cfg.maxRcvBuf = max(cfg.maxRcvBuf, cfg.rcvBuf)
	cfg.maxSndBuf = max(cfg.maxSndBuf, cfg.sndBuf)
	return cfg
}

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
	conns     map[connKey]*endpoint // demux.go
	tw        timeWaitTable         // timewait.go
	listeners map[netip.AddrPort]*Listener
	closed    bool

	// cbs counts running timer callbacks so Close can wait for them.
	cbMu     sync.Mutex
	cbClosed bool
	cbs      sync.WaitGroup

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
		conns:      make(map[connKey]*endpoint),
		listeners:  make(map[netip.AddrPort]*Listener),
		tw:         timeWaitTable{max: maxTimeWait},
	}
	if p.backlog <= 0 {
		p.backlog = 4096
	}
	p.cfg.mem.setCounters(s.Counters())
	p.cfg.mem.p = p
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
	return seqnum.Value(binary.BigEndian.Uint32(h[:]) + uint32(now.UnixNano()/4000)), binary.BigEndian.Uint32(h[4:])
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
	e := p.conns[k]
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
	if p.sendBare(t, f, SegmentOptions{}) {
		p.ctr.txRst.Inc()
	}
}

// sendBare sends segment f with opts and no payload on the reply route
// of t, for what answers without a connection (a RST, a TIME_WAIT
// record's ACK); it reports whether it was sent.
func (p *Protocol) sendBare(t tuple, f Fields, opts SegmentOptions) bool {
	r, err := p.replyRoute(t)
	if err != nil || r.Broadcast {
		return false
	}
	optLen := opts.EncodedLen()
	f.DataOffset = HeaderLen + optLen
	pkt := stack.NewPacket(stack.Headroom, f.DataOffset)
	b := pkt.Bytes()
	f.Encode(b)
	if optLen > 0 {
		opts.Encode(b[HeaderLen:])
	}
	Header(b).SetChecksum(r.LocalAddr, r.RemoteAddr)
	p.ctr.txSegments.Inc()
	_ = r.WritePacket(tcpParams, pkt)
	return true
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
	e := p.conns[t.key()]
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
	if _, ok := p.conns[e.id.key()]; ok || p.twInUseLocked(e.id.key()) {
		return stack.ErrAddressInUse
	}
	p.conns[e.id.key()] = e
	return nil
}

func (p *Protocol) removeConn(e *endpoint) {
	p.mu.Lock()
	if k := e.id.key(); p.conns[k] == e {
		delete(p.conns, k)
	}
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
		if k := (tuple{netip.AddrPortFrom(local.Addr(), port), remote}.key()); p.conns[k] != nil || p.twInUseLocked(k) {
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
	es := make([]*endpoint, 0, len(p.conns))
	for _, e := range p.conns {
		es = append(es, e)
	}
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
	clear(p.conns)
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
	e.p.s.TraceState("tcp", "connection", from.String(), st.String(), e.id.local, e.id.remote)
}

// traceListen reports the connection a listener made for t, if it made
// one: LISTEN → SYN_RECEIVED.
func (p *Protocol) traceListen(t tuple) {
	p.mu.RLock()
	e := p.conns[t.key()]
	p.mu.RUnlock()
	if e != nil {
		p.s.TraceState("tcp", "connection", StateListen.String(), StateSynReceived.String(), t.local, t.remote)
	}
}
