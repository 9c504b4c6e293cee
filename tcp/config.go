package tcp

// The resolved options and the named counters of the protocol.

import (
	"time"

	"github.com/tapstack/tapstack/stack"
)

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
	rxDsacks, undoDsack, undoEifel, undoRTO                          *stack.Counter
	tlpProbes, tlpRecoveries                                         *stack.Counter
	ecnNegotiated, ecnCE, ecnReductions                              *stack.Counter
	challengeCapped, invalidAckLimited                               *stack.Counter
	txStaleTrimmed                                                   *stack.Counter
	twCompact, twEnded, twOverflow                                   *stack.Counter
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
		tlpProbes:         cs.Get("tcp.tlp.probes"),
		tlpRecoveries:     cs.Get("tcp.tlp.recoveries"),
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
	}
}
