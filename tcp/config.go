package tcp

// The options, as a program gives them and as resolved, and the named
// counters of the protocol.

import (
	"io"
	"time"

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
		base:          time.Unix(0, 0), // Register sets the clock's reading
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

// config is the resolved Options a connection runs with.
type config struct {
	rcvBuf, sndBuf          int
	timeWait, finTimeout    time.Duration
	minRTO, maxRTO, initRTO time.Duration
	maxRetries              int
	synRetries              int
	synAckRetries           int
	windowScale             bool
	timestamps, sack        bool
	noTLP                   bool // Options.DisableTLP
	lossDetection           LossDetection
	cc                      string
	maxRcvBuf, maxSndBuf    int
	delAck                  time.Duration
	kaIdle, kaIntvl         time.Duration
	kaProbes                int
	synBacklog              int
	synCookies              bool
	invalidAckMs            uint32        // InvalidAckInterval in ms; 0: no limit
	challengeMax            int           // ChallengeAckLimit; 0: no global cap
	challenge               *challengeCap // nil: no global cap
	ecnRequest, ecnAccept   bool
	mem                     *memBudget // stack-wide, shared (memory.go)
	// base is the origin of the stamps of all the protocol's
	// connections (stamp.go): a nanosecond before the stack clock's
	// reading when Register made the protocol, so that no time it gives
	// later reads as an unset stamp, with the clock's monotonic reading
	// when it has one. A config made without a protocol (the core's
	// tests) counts from the Unix epoch. Kept here, once, rather than an
	// epoch in every connection: 24 bytes of each endpoint.
	base time.Time
}

// counters are the protocol's named events.
type counters struct {
	rxSegments, txSegments, retransmits, fastRetransmits, rtoExpired *stack.Counter
	rxRst, txRst, badChecksum, malformed, outOfOrder, noEndpoint     *stack.Counter
	outOfWindow, challengeAcks, activeOpens, passiveOpens, resets    *stack.Counter
	timeouts, listenOverflow, dataAfterClose, refused                *stack.Counter
	pawsRejected, challengeLimited, sackRecoveries, dsacks           *stack.Counter
	synCookiesSent, synCookiesOK, synCookiesBad, keepaliveTimeouts   *stack.Counter
	pmtuUpdates, delayedAcks, rcvBufGrown                            *stack.Counter
	sndBufGrown, sndBufModerated                                     *stack.Counter
	rxDsacks, undoDsack, undoEifel, undoRTO, undoJoined              *stack.Counter
	tlpProbes, tlpRecoveries, tlpInRecovery                          *stack.Counter
	ecnNegotiated, ecnCE, ecnReductions                              *stack.Counter
	challengeCapped, invalidAckLimited                               *stack.Counter
	txStaleTrimmed                                                   *stack.Counter
	twCompact, twEnded, twOverflow                                   *stack.Counter
	busyReleased                                                     *stack.Counter
}

func newCounters(cs *stack.Counters) *counters {
	return &counters{
		rxSegments:      cs.Get("tcp.rx.segments"),
		txSegments:      cs.Get("tcp.tx.segments"),
		txStaleTrimmed:  cs.Get("tcp.tx.stale_trimmed"),
		retransmits:     cs.Get("tcp.tx.retransmits"),
		fastRetransmits: cs.Get("tcp.tx.fast_retransmits"),
		rtoExpired:      cs.Get("tcp.timer.rto_expired"),
		rxRst:           cs.Get("tcp.rx.rst"),
		txRst:           cs.Get("tcp.tx.rst"),
		badChecksum:     cs.Get("tcp.rx.bad_checksum"),
		malformed:       cs.Get("tcp.rx.malformed"),
		outOfOrder:      cs.Get("tcp.rx.out_of_order"),
		noEndpoint:      cs.Get("tcp.rx.no_endpoint"),
		outOfWindow:     cs.Get("tcp.rx.out_of_window"),
		challengeAcks:   cs.Get("tcp.tx.challenge_acks"),
		activeOpens:     cs.Get("tcp.conn.active_opens"),
		passiveOpens:    cs.Get("tcp.conn.passive_opens"),
		resets:          cs.Get("tcp.conn.resets"),
		timeouts:        cs.Get("tcp.conn.timeouts"),
		listenOverflow:  cs.Get("tcp.conn.listen_overflow"),
		dataAfterClose:  cs.Get("tcp.conn.data_after_close"),
		refused:         cs.Get("tcp.conn.refused"),

		pawsRejected:      cs.Get("tcp.rx.paws_rejected"),
		challengeLimited:  cs.Get("tcp.tx.challenge_acks_limited"),
		sackRecoveries:    cs.Get("tcp.recovery.sack"),
		dsacks:            cs.Get("tcp.tx.dsack"),
		synCookiesSent:    cs.Get("tcp.syncookies.sent"),
		synCookiesOK:      cs.Get("tcp.syncookies.recv"),
		synCookiesBad:     cs.Get("tcp.syncookies.failed"),
		keepaliveTimeouts: cs.Get("tcp.conn.keepalive_timeouts"),
		pmtuUpdates:       cs.Get("tcp.pmtu.updates"),
		delayedAcks:       cs.Get("tcp.tx.delayed_acks"),
		rcvBufGrown:       cs.Get("tcp.rcvbuf.autotuned"),
		sndBufGrown:       cs.Get("tcp.sndbuf.autotuned"),
		sndBufModerated:   cs.Get("tcp.sndbuf.moderated"),
		rxDsacks:          cs.Get("tcp.rx.dsack"),
		undoDsack:         cs.Get("tcp.undo.dsack"),
		undoEifel:         cs.Get("tcp.undo.eifel"),
		undoRTO:           cs.Get("tcp.undo.rto"),
		undoJoined:        cs.Get("tcp.undo.joined"),
		tlpProbes:         cs.Get("tcp.tlp.probes"),
		tlpRecoveries:     cs.Get("tcp.tlp.recoveries"),
		tlpInRecovery:     cs.Get("tcp.tlp.probes_in_recovery"),
		ecnNegotiated:     cs.Get("tcp.ecn.negotiated"),
		ecnCE:             cs.Get("tcp.ecn.ce_received"),
		ecnReductions:     cs.Get("tcp.ecn.cwnd_reductions"),
		challengeCapped:   cs.Get("tcp.tx.challenge_acks_capped"),
		invalidAckLimited: cs.Get("tcp.tx.invalid_acks_limited"),
		// TIME_WAIT records (timewait.go): connections moved into one,
		// records ended early (an exact RST, a new SYN on the tuple) and
		// connections closed at once for a full table.
		twCompact:  cs.Get("tcp.timewait.records"),
		twEnded:    cs.Get("tcp.timewait.ended_early"),
		twOverflow: cs.Get("tcp.timewait.overflow"),
		// Idle connections that gave their busy part back (busy.go).
		busyReleased: cs.Get("tcp.idle.busy_released"),
	}
}
