package tcp

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// segment is an inbound segment as the state machine sees it. payload
// aliases the packet and is valid only during handleSegment.
type segment struct {
	seq, ack seqnum.Value
	flags    uint8
	wnd      uint16
	opts     SegmentOptions
	payload  []byte
	// ce says the IP header carried Congestion Experienced (RFC 3168).
	ce bool
}

func (s *segment) has(f uint8) bool { return s.flags&f != 0 }

// seqLen is the segment's length in sequence space (SYN and FIN count).
func (s *segment) seqLen() seqnum.Size {
	n := seqnum.Size(len(s.payload))
	if s.has(FlagSYN) {
		n++
	}
	if s.has(FlagFIN) {
		n++
	}
	return n
}

// outSeg is a segment the state machine wants sent. Its payload is
// dataLen bytes of the send buffer from offset dataOff; the endpoint copies
// them into the packet (the one copy on the send path).
type outSeg struct {
	seq, ack seqnum.Value
	flags    uint8
	wnd      uint16
	syn      bool // carries the SYN options (MSS, window scale, SACK-permitted)
	dataOff  int
	dataLen  int
	// gso, when non-zero, makes the segment a TSO super-segment: the
	// device cuts its payload into gso-byte segments, each with this
	// header (so gso is the MSS less this segment's options).
	gso int
	// ect sends the segment ECN-capable (ECT(0) in the IP header).
	ect bool
	// ts says the segment carries a timestamps option (RFC 7323).
	ts           bool
	tsVal, tsEcr uint32
	// sack holds the first nsack SACK blocks to send (RFC 2018).
	nsack uint8
	sack  [4]SACKBlock
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
	ecnNegotiated, ecnCE, ecnReductions                              *stack.Counter
	challengeCapped, invalidAckLimited                               *stack.Counter
}

func newCounters(cs *stack.Counters) *counters {
	return &counters{
		rxSegments:      cs.Get("tcp.rx.segments"),
		txSegments:      cs.Get("tcp.tx.segments"),
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
		ecnNegotiated:     cs.Get("tcp.ecn.negotiated"),
		ecnCE:             cs.Get("tcp.ecn.ce_received"),
		ecnReductions:     cs.Get("tcp.ecn.cwnd_reductions"),
		challengeCapped:   cs.Get("tcp.tx.challenge_acks_capped"),
		invalidAckLimited: cs.Get("tcp.tx.invalid_acks_limited"),
	}
}

// maxOOO bounds the number of out-of-order ranges kept; data beyond it is
// dropped and retransmitted by the peer.
const maxOOO = 32

type seqRange struct{ start, end seqnum.Value }

// core is the sans-IO TCP state machine of one connection: no locks, no
// goroutines, no clock reads. Callers pass the time in and collect the
// segments to send from out; deadline says when handleTimer is due.
type core struct {
	cfg   *config
	ctr   *counters
	state State
	// passive says the connection came from a listener.
	passive bool
	// userClosed says the application closed the connection: data that
	// arrives afterwards is answered with RST (as Linux does).
	userClosed bool
	// readShut says the application shut down reading (CloseRead): data
	// is still acknowledged but discarded.
	readShut bool
	// Flags of the groups below, kept here so that the struct packs
	// tightly: ackNow (delayed ACK) says an ACK goes out at once; kaOn
	// (keepalive) says SO_KEEPALIVE is on; rcvLocked (auto-tuning) says
	// the application set the receive buffer size; dsackOn (SACK) says
	// dsack holds a duplicate to report.
	// sndLocked (sndbuf.go) says the application set the send buffer
	// size.
	ackNow, kaOn, rcvLocked, dsackOn, sndLocked bool
	// err is the terminal error (reset, refused, timed out), nil otherwise.
	err error

	// Send sequence space.
	iss, sndUna, sndNxt, sndMax seqnum.Value
	sndWnd, maxSndWnd           uint32
	sndWL1, sndWL2              seqnum.Value
	sndShift                    uint8
	ourMSS, defMSS              int // MSS we advertise; the peer's default (defaultMSS)
	peerMSS                     int // MSS the peer advertised
	pmtuMSS                     int // MSS from path MTU discovery, 0 if none
	gsoMax                      int // payload one TSO super-segment may carry; 0: no TSO
	snd                         ring
	sndBufSeq                   seqnum.Value // sequence number of snd's first byte
	finQueued                   bool
	finSeq                      seqnum.Value
	noDelay                     bool // Nagle off (Go's default)

	// Receive sequence space.
	irs, rcvNxt  seqnum.Value
	rcv          ring
	rcvShift     uint8
	wsOffer      uint8      // shift we offer in our SYN
	sendWS       bool       // put a window scale option in our SYN
	ooo          []seqRange // out-of-order ranges held, sorted; their data in oooq (ooo.go)
	oooq         oooQueue
	rcvFinOOO    bool
	rcvFinSeq    seqnum.Value
	finRcvd      bool
	lastAdvRight seqnum.Value

	// Timestamps (RFC 7323).
	tsOffer     bool   // offer (active) or answer (passive) timestamps in the SYN
	tsOn        bool   // negotiated
	tsOffset    uint32 // per-connection random offset of our TSval clock
	tsRecent    uint32
	lastOOWAck  uint32 // ms clock of the last ACK for a rejected segment (ratelimit.go)
	tsRecentAt  time.Time
	lastAckSent seqnum.Value

	// SACK (RFC 2018, 2883, 6675).
	sackOffer bool
	sackOn    bool
	recent    [4]seqRange // out-of-order blocks, most recently changed first
	nrecent   int
	dsack     seqRange   // a duplicate to report once (RFC 2883)
	sb        scoreboard // what the peer SACKed
	rxtNext   seqnum.Value

	// Retransmission.
	rtt       rttEstimator
	rttTiming bool
	rttSeq    seqnum.Value
	rttStart  time.Time
	retries   int
	rtxAt     time.Time // retransmission or persist deadline
	twAt      time.Time // TIME_WAIT or orphaned FIN_WAIT_2 deadline

	// Congestion control: the algorithm adjusts the embedded window; the
	// core runs NewReno (RFC 6582) or SACK (RFC 6675) recovery.
	ccWindow
	cwndValidation // sndbuf.go
	ca             congestionControl
	dupAcks        int
	inRecovery     bool
	recover        seqnum.Value

	// ECN (RFC 3168).
	ecnState

	// Delayed ACK.
	ackAt      time.Time
	quickAcks  int
	rcvUnacked int
	rcvMSS     int

	// Keepalive.
	kaIdle, kaIntvl time.Duration
	kaSent          int
	kaAt, lastRcv   time.Time

	// Receive buffer auto-tuning.
	tuneStart  time.Time
	tuneCopied int
	tuneSpace  int

	out []outSeg
}

// maxQuickAcks is how many segments are acknowledged at once at the start
// of a connection (Linux TCP_MAX_QUICKACKS).
const maxQuickAcks = 16

// init prepares a closed core with initial sequence number iss, timestamp
// offset tsOffset and the MSS we advertise.
func (c *core) init(cfg *config, ctr *counters, iss seqnum.Value, ourMSS int, tsOffset uint32) {
	ca, ok := newCongestionControl(cfg.cc)
	if !ok {
		ca = &cubic{}
	}
	*c = core{cfg: cfg, ctr: ctr, iss: iss, ourMSS: ourMSS, out: c.out[:0], ooo: c.ooo[:0], sb: scoreboard{blocks: c.sb.blocks[:0]}}
	c.ca = ca
	c.tsOffset = tsOffset
	c.sndUna, c.sndNxt, c.sndMax = iss, iss, iss
	c.sndBufSeq = iss.Add(1)
	c.recover = iss
	c.usageSeq = iss
	c.snd = newRing(cfg.sndBuf)
	c.rcv = newRing(cfg.rcvBuf)
	c.snd.mem, c.rcv.mem = cfg.mem, cfg.mem
	c.mss = c.defaultMSS() // RFC 9293 default until the peer tells us
	c.noDelay = true
	c.quickAcks = maxQuickAcks
	c.kaIdle, c.kaIntvl = cfg.kaIdle, cfg.kaIntvl
	c.tsOffer, c.sackOffer = cfg.timestamps, cfg.sack
	c.ecnOffer = cfg.ecnRequest
	c.ecnRecover = iss
	if cfg.windowScale {
		c.sendWS = true
		for cfg.maxRcvBuf>>c.wsOffer > 0xffff && c.wsOffer < MaxWindowScale {
			c.wsOffer++
		}
	}
	c.rtt.init(cfg.initRTO, cfg.minRTO, cfg.maxRTO)
	c.ssthresh = 1 << 30
}

// setCongestionControl switches the algorithm; the window is kept.
func (c *core) setCongestionControl(name string) bool {
	ca, ok := newCongestionControl(name)
	if ok {
		c.ca = ca
	}
	return ok
}

// connect starts an active open: SYN_SENT and a SYN on the wire.
func (c *core) connect(now time.Time) {
	c.state = StateSynSent
	c.output(now)
}

// acceptSyn starts a passive open from a SYN that arrived at a listener.
func (c *core) acceptSyn(now time.Time, seg *segment) {
	c.passive = true
	c.state = StateSynReceived
	c.irs = seg.seq
	c.rcvNxt = seg.seq.Add(1)
	c.peerSynOptions(now, seg)
	c.ecnOn = c.cfg.ecnAccept && seg.flags&(FlagECE|FlagCWR) == FlagECE|FlagCWR
	c.sndWnd = uint32(seg.wnd)
	c.maxSndWnd = c.sndWnd
	c.sndWL1, c.sndWL2 = seg.seq, c.iss
	c.output(now)
}

// peerSynOptions applies the options of the peer's SYN (or SYN-ACK).
func (c *core) peerSynOptions(now time.Time, seg *segment) {
	c.peerMSS = c.defaultMSS()
	if seg.opts.HasMSS && seg.opts.MSS > 0 {
		c.peerMSS = int(seg.opts.MSS)
	}
	if c.sendWS && seg.opts.HasWindowScale {
		c.sndShift, c.rcvShift = seg.opts.WindowScale, c.wsOffer
	} else {
		c.sendWS, c.sndShift, c.rcvShift = false, 0, 0
	}
	c.tsOn = c.tsOffer && seg.opts.HasTimestamps
	c.tsOffer = c.tsOn
	if c.tsOn {
		c.tsRecent, c.tsRecentAt = seg.opts.TSVal, now
	}
	c.sackOn = c.sackOffer && seg.opts.SACKPermitted
	c.sackOffer = c.sackOn
	c.setMSS()
	c.rcvMSS = min(c.mss, 536)
	c.cwnd = 10 * c.mss // RFC 6928 initial window
}

// setMSS sets the send MSS from the peer's MSS, our own and the path's:
// the fixed options (timestamps) come off it.
func (c *core) setMSS() {
	m := min(c.peerMSS, c.ourMSS)
	if c.pmtuMSS > 0 {
		m = min(m, c.pmtuMSS)
	}
	if c.tsOn {
		m -= tsOptLen
	}
	c.mss = max(m, 64)
}

// deadline is when handleTimer must next run, zero if no timer is pending.
func (c *core) deadline() time.Time {
	d := c.rtxAt
	for _, t := range [...]time.Time{c.twAt, c.ackAt, c.kaAt} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// rcvWnd is the receive window: the free space of the receive buffer.
func (c *core) rcvWnd() int { return c.rcv.free() }

// advertise returns the window field for an outgoing segment.
func (c *core) advertise(syn bool) uint16 {
	free := c.advWnd()
	if syn {
		w := min(free, 0xffff)
		c.lastAdvRight = c.rcvNxt.Add(seqnum.Size(w))
		return uint16(w)
	}
	w := min(free>>c.rcvShift, 0xffff)
	c.lastAdvRight = c.rcvNxt.Add(seqnum.Size(w << c.rcvShift))
	return uint16(w)
}

// emit queues o with the window, timestamps and SACK blocks it carries.
func (c *core) emit(now time.Time, o outSeg) {
	o.wnd = c.advertise(o.syn)
	if c.tsOffer && o.flags&FlagRST == 0 {
		o.ts, o.tsVal = true, c.tsNow(now)
		if o.flags&FlagACK != 0 {
			o.tsEcr = c.tsRecent
		}
	}
	if o.flags&FlagACK != 0 {
		if c.sackOn && !o.syn {
			c.fillSACK(&o)
		}
		if c.ecnOn && c.ecnEcho && !o.syn {
			o.flags |= FlagECE
		}
		c.lastAckSent = o.ack
		c.ackNow = false
		c.ackAt = time.Time{}
		c.rcvUnacked = 0
	}
	c.out = append(c.out, o)
}

// emitReset queues a RST (with ACK when ack is true).
func (c *core) emitReset(seq, ack seqnum.Value, withAck bool) {
	f := FlagRST
	if withAck {
		f |= FlagACK
	}
	c.out = append(c.out, outSeg{seq: seq, ack: ack, flags: f})
}

// resetFor computes the RST answering seg when no connection wants it
// (RFC 9293 section 3.10.7.1). ok is false for a RST, which is never
// answered.
func resetFor(seg *segment) (seq, ack seqnum.Value, flags uint8, ok bool) {
	if seg.has(FlagRST) {
		return 0, 0, 0, false
	}
	if seg.has(FlagACK) {
		return seg.ack, 0, FlagRST, true
	}
	return 0, seg.seq.Add(seg.seqLen()), FlagRST | FlagACK, true
}

func (c *core) replyReset(seg *segment) {
	if seq, ack, f, ok := resetFor(seg); ok {
		c.out = append(c.out, outSeg{seq: seq, ack: ack, flags: f})
	}
}

// closeWith moves to CLOSED with the given terminal error (nil for an
// orderly end) and stops every timer.
func (c *core) closeWith(err error) {
	c.state = StateClosed
	if c.err == nil {
		c.err = err
	}
	c.rtxAt, c.twAt, c.ackAt, c.kaAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
}

func (c *core) enterTimeWait(now time.Time) {
	c.state = StateTimeWait
	c.rtxAt, c.ackAt, c.kaAt = time.Time{}, time.Time{}, time.Time{}
	c.twAt = now.Add(c.cfg.timeWait)
}

// handleSegment processes one inbound segment (RFC 9293 section 3.10.7).
func (c *core) handleSegment(now time.Time, seg *segment) {
	switch c.state {
	case StateClosed, StateListen:
		c.replyReset(seg)
		return
	case StateSynSent:
		c.handleSynSent(now, seg)
		return
	case StateSynReceived:
		// A retransmitted SYN: our SYN-ACK was lost, send it again.
		if seg.flags&(FlagSYN|FlagACK|FlagRST) == FlagSYN && seg.seq == c.irs {
			if c.oowAckAllowed(now, seg) {
				c.sndNxt = c.iss
				c.output(now)
			}
			return
		}
	}
	c.lastRcv = now
	c.kaSent = 0

	// PAWS (RFC 7323 section 5.3 R1) before the sequence number test.
	if c.pawsReject(now, seg) {
		c.ctr.pawsRejected.Inc()
		c.ackInvalid(now, seg)
		return
	}

	// First: is the sequence number acceptable?
	if !c.acceptable(seg) {
		c.ctr.outOfWindow.Inc()
		if c.oldDuplicate(seg) {
			// Entirely old (a retransmission of what we have, or a go-back-N
			// resend): as BSD does, trim it to nothing but still take its
			// ACK, so both sides keep learning while they recover.
			if len(seg.payload) > 0 || seg.has(FlagFIN) {
				c.ackNow = true
				if c.sackOn && len(seg.payload) > 0 {
					c.dsack, c.dsackOn = seqRange{seg.seq, seg.seq.Add(seqnum.Size(len(seg.payload)))}, true
				}
			} else if seg.seq.Add(1) == c.rcvNxt {
				c.ackNow = c.oowAckAllowed(now, seg) // a keepalive probe
			}
			if c.state == StateTimeWait && seg.has(FlagFIN) {
				c.twAt = now.Add(c.cfg.timeWait) // the peer lost our last ACK
			}
			if c.state != StateSynReceived && c.processAck(now, seg) && c.state == StateClosed {
				return
			}
			c.output(now)
			return
		}
		if !seg.has(FlagRST) {
			c.ackInvalid(now, seg)
		}
		return
	}
	c.updateTSRecent(now, seg)
	if c.ecnOn && !seg.has(FlagRST) {
		c.ecnReceive(seg)
	}

	// Second: RST (RFC 5961 section 3: exact match resets, anything else
	// in the window gets a challenge ACK).
	if seg.has(FlagRST) {
		if seg.seq != c.rcvNxt {
			c.challengeAck(now)
			return
		}
		c.handleReset()
		return
	}

	// Fourth: a SYN in a synchronized state gets a challenge ACK (RFC 5961
	// section 4).
	if seg.has(FlagSYN) {
		c.challengeAck(now)
		return
	}

	// Fifth: the ACK field.
	if !seg.has(FlagACK) {
		return
	}
	if c.state == StateSynReceived {
		if !seg.ack.InRange(c.sndUna.Add(1), c.sndMax.Add(1)) {
			c.replyReset(seg)
			return
		}
		c.state = StateEstablished
		c.ctr.passiveOpens.Inc()
		if c.ecnOn {
			c.ctr.ecnNegotiated.Inc()
		}
		c.sndWnd = uint32(seg.wnd) << c.sndShift
		c.maxSndWnd = c.sndWnd
		c.sndWL1, c.sndWL2 = seg.seq, seg.ack
		if c.finQueued {
			c.state = StateFinWait1
		}
	}
	if !c.processAck(now, seg) {
		c.output(now)
		return
	}
	if c.state == StateClosed { // LAST_ACK's FIN was acknowledged
		return
	}

	// Seventh: the segment text, trimmed to the window.
	dataSeq := seg.seq
	payload := seg.payload
	finSeq := dataSeq.Add(seqnum.Size(len(payload)))
	hasFin := seg.has(FlagFIN)
	if dataSeq.LessThan(c.rcvNxt) {
		d := int(dataSeq.Size(c.rcvNxt))
		if c.sackOn && d > 0 && len(payload) > 0 {
			c.dsack, c.dsackOn = seqRange{dataSeq, dataSeq.Add(seqnum.Size(min(d, len(payload))))}, true
		}
		payload = payload[min(d, len(payload)):]
		dataSeq = c.rcvNxt
	}
	right := c.rcvNxt.Add(seqnum.Size(c.rcvWnd()))
	if end := dataSeq.Add(seqnum.Size(len(payload))); end.GreaterThan(right) {
		payload = payload[:dataSeq.Size(right)]
		hasFin = false
	}
	if len(payload) > 0 {
		switch c.state {
		case StateEstablished, StateFinWait1, StateFinWait2:
			if c.userClosed {
				// Nobody will read this: reset, as Linux does.
				c.ctr.dataAfterClose.Inc()
				c.abort()
				return
			}
			c.receiveData(now, dataSeq, payload)
		}
	}

	// Eighth: FIN.
	if hasFin && !c.finRcvd {
		switch {
		case finSeq == c.rcvNxt:
			c.receiveFin(now)
		case finSeq.GreaterThan(c.rcvNxt):
			c.rcvFinOOO, c.rcvFinSeq = true, finSeq
			c.ackNow = true
		default: // a retransmitted FIN we already have
			c.ackNow = true
			if c.state == StateTimeWait {
				c.twAt = now.Add(c.cfg.timeWait)
			}
		}
	} else if hasFin {
		c.ackNow = true
	}
	if c.rcvFinOOO && !c.finRcvd && c.rcvFinSeq == c.rcvNxt {
		c.receiveFin(now)
	}
	c.output(now)
}

// acceptable is the sequence number test of RFC 9293 section 3.10.7.4.
func (c *core) acceptable(seg *segment) bool {
	n := seg.seqLen()
	wnd := seqnum.Size(c.rcvWnd())
	switch {
	case n == 0 && wnd == 0:
		return seg.seq == c.rcvNxt
	case n == 0:
		return seg.seq.InWindow(c.rcvNxt, wnd)
	case wnd == 0:
		return false
	}
	return seg.seq.InWindow(c.rcvNxt, wnd) || seg.seq.Add(n-1).InWindow(c.rcvNxt, wnd)
}

// oldDuplicate reports whether seg lies entirely before rcvNxt and carries
// only an ACK, data or FIN (no SYN or RST).
func (c *core) oldDuplicate(seg *segment) bool {
	return seg.flags&(FlagSYN|FlagRST) == 0 && seg.has(FlagACK) &&
		seg.seq.Add(seg.seqLen()).LessThanEq(c.rcvNxt) && seg.seq.LessThan(c.rcvNxt)
}

// handleSynSent processes a segment in SYN_SENT (RFC 9293 section 3.10.7.3).
func (c *core) handleSynSent(now time.Time, seg *segment) {
	ackOK := false
	if seg.has(FlagACK) {
		if seg.ack.LessThanEq(c.iss) || seg.ack.GreaterThan(c.sndMax) {
			c.replyReset(seg)
			return
		}
		ackOK = true
	}
	if seg.has(FlagRST) {
		if ackOK {
			c.ctr.refused.Inc()
			c.closeWith(stack.ErrConnectionRefused)
		}
		return
	}
	if !seg.has(FlagSYN) {
		return
	}
	c.irs = seg.seq
	c.rcvNxt = seg.seq.Add(1)
	c.lastAdvRight = c.rcvNxt // our SYN's window was relative to nothing
	c.peerSynOptions(now, seg)
	c.ecnOn = ackOK && c.ecnOffer && seg.flags&(FlagECE|FlagCWR) == FlagECE
	c.sndWnd = uint32(seg.wnd) // never scaled in a SYN
	c.maxSndWnd = c.sndWnd
	c.sndWL1, c.sndWL2 = seg.seq, seg.ack
	c.lastRcv = now
	if !ackOK {
		// Simultaneous open: answer with SYN-ACK.
		c.state = StateSynReceived
		c.sndNxt = c.iss
		c.output(now)
		return
	}
	c.sndUna = seg.ack
	if !c.tsSample(now, seg) && c.rttTiming && c.rttSeq.LessThanEq(seg.ack) {
		c.rtt.sample(now.Sub(c.rttStart))
	}
	c.rttTiming = false
	c.retries = 0
	c.rtxAt = time.Time{}
	c.state = StateEstablished
	c.ctr.activeOpens.Inc()
	if c.ecnOn {
		c.ctr.ecnNegotiated.Inc()
	}
	if c.finQueued {
		c.state = StateFinWait1
	}
	c.ackNow = true
	c.output(now)
}

// handleReset acts on an acceptable RST in a synchronized state.
func (c *core) handleReset() {
	switch c.state {
	case StateSynReceived:
		if c.passive {
			c.closeWith(nil)
		} else {
			c.closeWith(stack.ErrConnectionRefused)
		}
	case StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.ctr.resets.Inc()
		c.closeWith(stack.ErrConnectionReset)
	default:
		c.closeWith(nil)
	}
}

// processAck handles the ACK field in a synchronized state. It returns false
// when the rest of the segment must be dropped.
func (c *core) processAck(now time.Time, seg *segment) bool {
	ack := seg.ack
	if ack.GreaterThan(c.sndMax) {
		// RFC 5961 section 5.2: acknowledges what was never sent.
		c.challengeAck(now)
		return false
	}
	if ack.LessThan(c.sndUna) {
		// RFC 5961 section 5: an ACK older than the largest window the
		// peer ever offered is blind or stale: challenge and drop.
		if ack.LessThan(c.sndUna.Sub(seqnum.Size(max(c.maxSndWnd, 1)))) {
			c.challengeAck(now)
			return false
		}
		return true // old duplicate
	}
	windowChanged := false
	if c.sndWL1.LessThan(seg.seq) || (c.sndWL1 == seg.seq && c.sndWL2.LessThanEq(ack)) {
		w := uint32(seg.wnd) << c.sndShift
		windowChanged = w != c.sndWnd
		c.sndWnd = w
		c.maxSndWnd = max(c.maxSndWnd, w)
		c.sndWL1, c.sndWL2 = seg.seq, ack
	}
	sackNew := false
	if c.sackOn && seg.opts.NumSACK > 0 {
		sackNew = c.sb.update(&seg.opts, ack, c.sndMax)
	}
	if c.ecnOn && seg.has(FlagECE) {
		c.onECE(now, ack)
	}
	if ack == c.sndUna {
		if c.sndWnd == 0 {
			c.retries = 0 // the peer is alive, probing goes on
		}
		if len(seg.payload) == 0 && seg.flags&(FlagSYN|FlagFIN) == 0 && (!windowChanged || sackNew) && c.sndMax != c.sndUna {
			if !c.sackOn || sackNew || seg.opts.NumSACK == 0 {
				c.dupAcks++
			}
			c.onDupAck(now)
		}
		return true
	}

	// New data acknowledged.
	acked := int(c.sndUna.Size(ack))
	c.dupAcks = 0
	c.retries = 0
	if c.tsSample(now, seg) {
		c.rttTiming = false
	} else if c.rttTiming && c.rttSeq.LessThanEq(ack) {
		c.rtt.sample(now.Sub(c.rttStart))
		c.rttTiming = false
	}
	dataAcked := min(int(c.sndBufSeq.Size(ack)), c.snd.n)
	if dataAcked > 0 && ack.GreaterThan(c.sndBufSeq) {
		c.snd.discard(dataAcked)
		c.sndBufSeq = c.sndBufSeq.Add(seqnum.Size(dataAcked))
		if c.snd.n == 0 {
			c.snd.release() // everything sent was acknowledged
		}
	}
	c.sndUna = ack
	c.sb.advance(ack)
	if c.sndNxt.LessThan(ack) {
		c.sndNxt = ack
	}
	if c.rxtNext.LessThan(ack) {
		c.rxtNext = ack
	}

	if c.inRecovery {
		if ack.GreaterThanEq(c.recover) {
			c.cwnd = min(c.ssthresh, int(c.sndUna.Size(c.sndMax))+c.mss)
			c.cwnd = max(c.cwnd, c.mss)
			c.inRecovery = false
		} else if !c.sackOn {
			// Partial ACK: the next hole is lost too (RFC 6582 3.2 step 5).
			c.retransmitFirst(now)
			c.cwnd = max(c.cwnd-acked+c.mss, c.mss)
		}
		// With SACK, output runs RFC 6675's NextSeg against the pipe.
	} else if c.isCwndLimited() {
		c.ca.onAck(&c.ccWindow, now, acked, c.rtt.srtt)
	}
	c.cwnd = min(c.cwnd, 1<<30)
	if dataAcked > 0 {
		c.sndbufExpand()
	}

	if c.sndUna == c.sndMax {
		c.rtxAt = time.Time{}
	} else {
		c.rtxAt = now.Add(c.rtt.rto)
	}

	if c.finQueued && ack == c.finSeq.Add(1) {
		switch c.state {
		case StateFinWait1:
			c.state = StateFinWait2
			if c.userClosed {
				c.twAt = now.Add(c.cfg.finTimeout)
			}
		case StateClosing:
			c.enterTimeWait(now)
		case StateLastAck:
			c.closeWith(nil)
		}
	}
	return true
}

// dupThresh is RFC 5681's duplicate ACK threshold.
const dupThresh = 3

// onDupAck runs fast retransmit and recovery: RFC 6675 with SACK, RFC
// 5681/6582 NewReno without.
func (c *core) onDupAck(now time.Time) {
	if c.inRecovery {
		if !c.sackOn {
			c.cwnd += c.mss
		}
		return
	}
	if !c.sndUna.GreaterThan(c.recover) {
		return // still the same window of data (RFC 6582 section 3.2 step 2)
	}
	lost := c.dupAcks >= dupThresh || (c.sackOn && c.sb.isLost(c.sndUna, c.mss))
	if !lost {
		return
	}
	flight := int(c.sndUna.Size(c.sndMax))
	c.ca.onLoss(&c.ccWindow, now, flight)
	c.recover = c.sndMax
	c.inRecovery = true
	c.ctr.fastRetransmits.Inc()
	c.rttTiming = false
	if c.sackOn {
		// RFC 6675 section 5: cwnd = ssthresh, retransmit the first
		// segment, then send what the pipe allows (in output).
		c.ctr.sackRecoveries.Inc()
		c.cwnd = c.ssthresh
		c.rxtNext = c.sndUna
		c.sendRange(now, c.sndUna, c.mss)
	} else {
		c.cwnd = c.ssthresh + 3*c.mss
		c.retransmitFirst(now)
	}
	c.rtxAt = now.Add(c.rtt.rto)
}

// retransmitFirst resends the oldest unacknowledged segment regardless of
// the windows, and returns its length in sequence space.
func (c *core) retransmitFirst(now time.Time) seqnum.Size {
	c.rttTiming = false // Karn: no sample from a retransmitted segment
	if c.state.handshaking() {
		c.sndNxt = c.iss
		c.emitSyn(now)
		return 1
	}
	return c.sendRange(now, c.sndUna, c.mss)
}

// sendRange retransmits up to n bytes from seq (which must lie in
// [sndUna, sndMax)), with the FIN if the range reaches it, and returns the
// sequence space sent. It ignores the windows.
func (c *core) sendRange(now time.Time, seq seqnum.Value, n int) seqnum.Size {
	off := int(c.sndBufSeq.Size(seq))
	outstanding := int(seq.Size(c.sndMax))
	if seq.LessThan(c.sndBufSeq) || outstanding <= 0 {
		return 0
	}
	n = max(min(n, c.snd.n-off, outstanding, c.mss-c.sackOptLen()), 0)
	flags := FlagACK
	if n > 0 {
		flags |= FlagPSH
	}
	if c.finQueued && seq.Add(seqnum.Size(n)) == c.finSeq && c.sndMax.GreaterThan(c.finSeq) {
		flags |= FlagFIN
	}
	if n == 0 && flags&FlagFIN == 0 {
		return 0
	}
	c.ctr.retransmits.Inc()
	c.emit(now, outSeg{seq: seq, ack: c.rcvNxt, flags: flags, dataOff: off, dataLen: n})
	l := seqnum.Size(n)
	if flags&FlagFIN != 0 {
		l++
	}
	return l
}

// receiveData stores in-window data starting at seq (>= rcvNxt), as far
// as the memory budget allows (memory.go).
func (c *core) receiveData(now time.Time, seq seqnum.Value, p []byte) {
	if seq != c.rcvNxt {
		c.ctr.outOfOrder.Inc()
		if c.queueOOO(seq, p) {
			c.noteSACK(seq)
		}
		c.ackNow = true // out-of-order data is acknowledged at once
		return
	}
	if !c.rcvAdmit(len(p)) {
		c.ackNow = true // dropped for want of memory: tell the peer our window
		return
	}
	c.rcv.writeAt(c.rcv.n, p)
	filled := len(c.ooo) > 0
	c.advanceRcv(seq.Add(seqnum.Size(len(p))))
	c.pullOOO() // the out-of-order data the new data reaches
	if c.readShut {
		c.rcv.discard(c.rcv.n)
		c.releaseRcv()
	}
	// Delayed ACK, Linux style: quick ACKs at the start, then an ACK for
	// every second full segment, at once when a hole was filled, else
	// within the delayed-ACK timeout.
	c.rcvUnacked += len(p)
	c.rcvMSS = max(c.rcvMSS, min(len(p), c.ourMSS))
	switch {
	case c.cfg.delAck == 0 || filled:
		c.ackNow = true
	case c.quickAcks > 0:
		c.quickAcks--
		c.ackNow = true
	case c.rcvUnacked > c.rcvMSS:
		c.ackNow = true
	case c.ackAt.IsZero():
		c.ackAt = now.Add(c.cfg.delAck)
	}
}

func (c *core) advanceRcv(to seqnum.Value) {
	c.rcv.n += int(c.rcvNxt.Size(to))
	c.rcvNxt = to
}

// addOOO records [start, end) as received, merging neighbours.
func (c *core) addOOO(start, end seqnum.Value) {
	i := 0
	for i < len(c.ooo) && c.ooo[i].end.LessThan(start) {
		i++
	}
	j := i
	for j < len(c.ooo) && c.ooo[j].start.LessThanEq(end) {
		start = seqnum.Min(start, c.ooo[j].start)
		end = seqnum.Max(end, c.ooo[j].end)
		j++
	}
	if i == j {
		if len(c.ooo) == maxOOO {
			return // too fragmented: drop, the peer retransmits
		}
		if c.ooo == nil {
			c.ooo = make([]seqRange, 0, maxOOO) // on first reordering only
		}
		c.ooo = append(c.ooo, seqRange{})
		copy(c.ooo[i+1:], c.ooo[i:])
		c.ooo[i] = seqRange{start, end}
		return
	}
	c.ooo[i] = seqRange{start, end}
	c.ooo = append(c.ooo[:i+1], c.ooo[j:]...)
}

// receiveFin processes a FIN at rcvNxt.
func (c *core) receiveFin(now time.Time) {
	c.rcvNxt = c.rcvNxt.Add(1)
	c.finRcvd = true
	c.rcvFinOOO = false
	c.ackNow = true
	switch c.state {
	case StateSynReceived, StateEstablished:
		c.state = StateCloseWait
	case StateFinWait1:
		if c.finQueued && c.sndUna == c.finSeq.Add(1) {
			c.enterTimeWait(now)
		} else {
			c.state = StateClosing
		}
	case StateFinWait2:
		c.enterTimeWait(now)
	case StateTimeWait:
		c.twAt = now.Add(c.cfg.timeWait)
	}
}

// emitSyn queues our SYN (or SYN-ACK) at iss.
func (c *core) emitSyn(now time.Time) {
	f := FlagSYN
	if c.state == StateSynReceived {
		f |= FlagACK
	}
	f |= c.ecnSynFlags()
	c.emit(now, outSeg{seq: c.iss, ack: c.rcvNxt, flags: f, syn: true})
	c.sndNxt = c.iss.Add(1)
	if c.sndMax.LessThan(c.sndNxt) {
		c.sndMax = c.sndNxt
	}
}

// output sends what the windows allow, or a bare ACK if one is owed.
func (c *core) output(now time.Time) {
	switch c.state {
	case StateSynSent, StateSynReceived:
		if c.sndNxt == c.iss {
			if c.retries == 0 && !c.rttTiming {
				c.rttTiming, c.rttSeq, c.rttStart = true, c.iss.Add(1), now
			}
			c.emitSyn(now)
			if c.rtxAt.IsZero() {
				c.rtxAt = now.Add(c.rtt.rto)
			}
		} else if c.ackNow && c.state == StateSynReceived {
			c.emit(now, outSeg{seq: c.sndNxt, ack: c.rcvNxt, flags: FlagACK})
		}
		c.ackNow = false
		return
	case StateClosed, StateListen:
		c.ackNow = false
		return
	}
	if c.inRecovery && c.sackOn {
		c.sackRecover(now)
	} else {
		for c.sendNew(now, c.cwnd-int(c.sndUna.Size(c.sndNxt))) {
		}
	}
	c.noteCwndUse()
	if c.ackNow {
		// sndMax, not sndNxt: after a go-back-N retransmission sndNxt may
		// lie before what the peer already has, which would make the ACK
		// unacceptable to it.
		c.emit(now, outSeg{seq: c.sndMax, ack: c.rcvNxt, flags: FlagACK})
	}
	c.ackNow = false
	// Persist: a zero window with data waiting and nothing in flight to
	// bring a window update.
	if c.sndUna == c.sndMax && c.rtxAt.IsZero() && c.sndWnd == 0 && c.snd.n > int(c.sndBufSeq.Size(c.sndNxt)) {
		c.rtxAt = now.Add(c.rtt.rto)
	}
}

// sendNew sends one segment from sndNxt if the send window, room bytes of
// congestion window, the silly window rules and Nagle allow it. It
// reports whether it sent one.
func (c *core) sendNew(now time.Time, room int) bool {
	// After a timeout (go-back-N) skip what the peer has SACKed.
	limit := c.sb.skip(&c.sndNxt, c.sndMax)
	off := int(c.sndBufSeq.Size(c.sndNxt))
	avail := max(c.snd.n-off, 0)
	inflight := int(c.sndUna.Size(c.sndNxt))
	segMax := c.mss - c.sackOptLen()
	n := max(min(avail, int(c.sndWnd)-inflight, room, c.superMax(segMax)), 0)
	if limit > 0 {
		n = min(n, limit)
	}
	if n > segMax && n < avail {
		// A super-segment that does not carry the last queued byte is
		// cut into full segments only; the rest waits its turn.
		n -= n % segMax
	}
	fin := c.finQueued && off <= c.snd.n && off+n == c.snd.n && c.sndNxt.Add(seqnum.Size(n)) == c.finSeq
	if n == 0 && !fin {
		return false
	}
	// Sender silly window avoidance (RFC 9293 3.8.6.2.1): a short
	// segment goes only when it carries everything queued, fills half the
	// largest window, or nothing is in flight.
	if n < segMax && n < avail && uint32(n) < c.maxSndWnd/2 && inflight > 0 {
		return false
	}
	// Nagle (RFC 9293 3.7.4) when enabled: no short segment while data is
	// unacknowledged, unless it carries the FIN.
	if !c.noDelay && n < segMax && !fin && inflight > 0 {
		return false
	}
	flags := FlagACK
	if n > 0 && off+n == c.snd.n {
		flags |= FlagPSH
	}
	if fin {
		flags |= FlagFIN
	}
	if c.sndNxt.LessThan(c.sndMax) {
		c.ctr.retransmits.Inc()
	}
	o := outSeg{seq: c.sndNxt, ack: c.rcvNxt, flags: flags, dataOff: off, dataLen: n}
	if n > segMax {
		o.gso = segMax
	}
	if c.ecnOn && n > 0 && c.sndNxt.GreaterThanEq(c.sndMax) {
		// New data is ECN-capable (never a retransmission, RFC 3168
		// 6.1.5); the first after a reduction carries CWR.
		o.ect = true
		if c.ecnCWR {
			o.flags |= FlagCWR
			c.ecnCWR = false
		}
	}
	c.emit(now, o)
	l := seqnum.Size(n)
	if fin {
		l++
	}
	if c.sndNxt.GreaterThanEq(c.sndMax) && n > 0 && !c.rttTiming {
		c.rttTiming, c.rttSeq, c.rttStart = true, c.sndNxt.Add(l), now
	}
	c.sndNxt = c.sndNxt.Add(l)
	if c.sndMax.LessThan(c.sndNxt) {
		c.sndMax = c.sndNxt
	}
	if c.rtxAt.IsZero() {
		c.rtxAt = now.Add(c.rtt.rto)
	}
	return !fin
}

// superMax is the most payload sendNew may put in one segment of
// segMax-byte segments: segMax, or with TSO as many whole segments as a
// super-segment holds. Retransmissions (below sndMax) stay single
// segments.
func (c *core) superMax(segMax int) int {
	if c.gsoMax <= segMax || c.sndNxt.LessThan(c.sndMax) || c.ecnCWR {
		return segMax // a CWR segment goes alone (TSO with CWR needs the device's ECN GSO type)
	}
	return c.gsoMax / segMax * segMax
}

// handleTimer runs the timers that are due at now.
func (c *core) handleTimer(now time.Time) {
	if !c.twAt.IsZero() && !now.Before(c.twAt) {
		c.twAt = time.Time{}
		if c.state == StateTimeWait || c.state == StateFinWait2 {
			c.closeWith(nil)
			return
		}
	}
	if !c.ackAt.IsZero() && !now.Before(c.ackAt) {
		c.ackAt = time.Time{}
		if c.state.synchronized() && c.state != StateTimeWait {
			c.ctr.delayedAcks.Inc()
			c.ackNow = true
		}
	}
	if !c.kaAt.IsZero() && !now.Before(c.kaAt) {
		c.kaAt = time.Time{}
		c.keepalive(now)
		if c.state == StateClosed {
			return
		}
	}
	if !c.rtxAt.IsZero() && !now.Before(c.rtxAt) {
		c.rtxAt = time.Time{}
		c.retransmitTimer(now)
		if c.state == StateClosed {
			return
		}
	}
	if c.ackNow {
		c.output(now)
	}
}

// retransmitTimer is the RTO (or persist) timer's expiry.
func (c *core) retransmitTimer(now time.Time) {
	switch c.state {
	case StateClosed, StateListen, StateTimeWait:
		return
	}
	if c.sndUna == c.sndMax {
		// Persist timer: probe a zero window with one byte (RFC 9293
		// 3.8.6.1); the byte is then in flight and retransmitted as usual.
		if c.sndWnd == 0 && c.snd.n > int(c.sndBufSeq.Size(c.sndNxt)) {
			off := int(c.sndBufSeq.Size(c.sndNxt))
			c.emit(now, outSeg{seq: c.sndNxt, ack: c.rcvNxt, flags: FlagACK, dataOff: off, dataLen: 1})
			c.sndNxt = c.sndNxt.Add(1)
			c.sndMax = c.sndNxt
			c.rtt.backoff()
			c.rtxAt = now.Add(c.rtt.rto)
		}
		return
	}
	c.retries++
	limit := c.cfg.maxRetries
	switch c.state {
	case StateSynSent:
		limit = c.cfg.synRetries
	case StateSynReceived:
		limit = c.cfg.synAckRetries
	}
	if c.retries > limit {
		c.ctr.timeouts.Inc()
		c.closeWith(stack.ErrTimedOut)
		return
	}
	c.ctr.rtoExpired.Inc()
	c.rtt.backoff()
	if !c.state.handshaking() {
		flight := int(c.sndUna.Size(c.sndMax))
		c.ca.onTimeout(&c.ccWindow, now, flight)
		c.cwnd = c.mss
		c.inRecovery = false
		c.recover = c.sndMax
		c.dupAcks = 0
	}
	// Retransmit the first segment, then go back N: the rest follows as
	// the congestion window opens again (skipping SACKed data).
	l := c.retransmitFirst(now)
	c.sndNxt = c.sndUna.Add(l)
	c.rtxAt = now.Add(c.rtt.rto)
}

// write queues as much of p as the send buffer takes and sends what the
// windows allow. It returns the number of bytes queued.
func (c *core) write(now time.Time, p []byte) int {
	switch c.state {
	case StateEstablished, StateCloseWait:
	default:
		return 0
	}
	if c.finQueued {
		return 0
	}
	k := c.snd.append(p)
	if k > 0 {
		c.output(now)
	}
	return k
}

// read moves received data into p and opens the window, telling the peer
// when the window grew by enough to matter (receiver SWS avoidance).
func (c *core) read(now time.Time, p []byte) int {
	k := c.rcv.read(p)
	if k == 0 {
		return 0
	}
	c.releaseRcv()
	c.autotune(now, k)
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		if c.windowUpdateDue() {
			c.ackNow = true
			c.output(now)
		}
	}
	return k
}

// windowUpdateDue says whether reading opened the window enough to tell
// the peer at once rather than with the next ACK: by at least
// min(buffer/2, MSS) (RFC 1122 receiver SWS avoidance), and, as Linux
// (__tcp_cleanup_rbuf), only when the window the peer knows is down to
// half the buffer or less and the new one is at least twice it. A reader
// that keeps up then sends no update per Read, only the ACKs of the data.
func (c *core) windowUpdateDue() bool {
	w := min(c.advWnd()>>c.rcvShift, 0xffff) << c.rcvShift
	newRight := c.rcvNxt.Add(seqnum.Size(w))
	if !newRight.GreaterThan(c.lastAdvRight) || int(c.lastAdvRight.Size(newRight)) < min(c.rcv.max/2, c.ourMSS) {
		return false
	}
	known := 0 // the window the peer knows
	if c.lastAdvRight.GreaterThan(c.rcvNxt) {
		known = int(c.rcvNxt.Size(c.lastAdvRight))
	}
	return 2*known <= c.rcv.max && w >= 2*known
}

// shutdown closes the sending direction: a FIN follows the queued data.
func (c *core) shutdown(now time.Time) {
	if c.finQueued {
		return
	}
	switch c.state {
	case StateSynSent:
		c.closeWith(nil)
		return
	case StateSynReceived, StateEstablished, StateCloseWait:
	default:
		return
	}
	c.finQueued = true
	c.finSeq = c.sndBufSeq.Add(seqnum.Size(c.snd.n))
	switch c.state {
	case StateEstablished:
		c.state = StateFinWait1
	case StateCloseWait:
		c.state = StateLastAck
	}
	c.output(now)
}

// close is the application's Close without unread data: FIN after the
// queued data, and the connection lives on alone until it ends.
func (c *core) close(now time.Time) {
	c.userClosed = true
	c.shutdown(now)
	if c.state == StateFinWait2 && c.twAt.IsZero() {
		c.twAt = now.Add(c.cfg.finTimeout)
	}
}

// shutdownRead is CloseRead: unread data is dropped and later data is
// acknowledged and discarded.
func (c *core) shutdownRead() {
	c.readShut = true
	c.rcv.discard(c.rcv.n)
	c.releaseRcv()
}

// releaseRcv gives the receive buffer back when it holds nothing (data
// out of order waits elsewhere): an idle connection keeps no buffer.
func (c *core) releaseRcv() {
	if c.rcv.n == 0 {
		c.rcv.release()
	}
}

// abort ends the connection at once, with a RST if it was synchronized.
func (c *core) abort() {
	switch c.state {
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.emitReset(c.sndMax, c.rcvNxt, true)
	}
	c.closeWith(nil)
}

// minPathMTU is the smallest MTU a fragmentation-needed error may set
// (Linux min_pmtu).
const minPathMTU = 552

// handleError applies an ICMP error (or local failure) about a segment
// with sequence number seq. A connection attempt fails from a hard error;
// a fragmentation-needed error lowers the MSS of any connection and
// resends what is in flight in smaller segments (RFC 1191, RFC 5927:
// only for a sequence number in flight).
func (c *core) handleError(now time.Time, kind stack.ErrorKind, seq seqnum.Value, mtu int) {
	if kind == stack.ErrorFragmentationNeeded {
		if !c.state.synchronized() && !c.state.handshaking() || !seq.InRange(c.sndUna, c.sndMax) || mtu <= 0 {
			return
		}
		old, oldPMTU := c.mss, c.pmtuMSS
		c.pmtuMSS = max(mtu, minPathMTU) - 40
		if c.peerMSS == 0 {
			c.peerMSS = c.defaultMSS()
		}
		c.setMSS()
		if c.mss >= old {
			c.mss, c.pmtuMSS = old, oldPMTU
			return
		}
		c.ctr.pmtuUpdates.Inc()
		if c.state.synchronized() {
			// Resend everything in flight in the new size, without a
			// congestion response (Linux tcp_simple_retransmit).
			c.rttTiming = false
			c.sndNxt = c.sndUna
			c.output(now)
		}
		return
	}
	if c.state != StateSynSent || !seq.InRange(c.sndUna, c.sndMax) {
		return
	}
	var err error
	switch kind {
	case stack.ErrorNetUnreachable:
		err = stack.ErrNoRoute
	case stack.ErrorHostUnreachable, stack.ErrorAdministrativelyProhibited:
		err = stack.ErrHostUnreachable
	case stack.ErrorPortUnreachable:
		err = stack.ErrConnectionRefused
	case stack.ErrorProtocolUnreachable:
		err = errProtocolUnreachable
	default:
		return
	}
	c.closeWith(err)
}
