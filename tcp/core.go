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
	opts     SegmentOptions // parsed only for SYN segments
	payload  []byte
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
	syn      bool // carries the SYN options (MSS, window scale)
	dataOff  int
	dataLen  int
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
}

// counters are the protocol's named events.
type counters struct {
	rxSegments, txSegments, retransmits, fastRetransmits, rtoExpired *stack.Counter
	rxRst, txRst, badChecksum, malformed, outOfOrder, noEndpoint     *stack.Counter
	outOfWindow, challengeAcks, activeOpens, passiveOpens, resets    *stack.Counter
	timeouts, listenOverflow, dataAfterClose, refused                *stack.Counter
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
	// err is the terminal error (reset, refused, timed out), nil otherwise.
	err error
	// passive says the connection came from a listener.
	passive bool
	// userClosed says the application closed the connection: data that
	// arrives afterwards is answered with RST (as Linux does).
	userClosed bool

	// Send sequence space.
	iss, sndUna, sndNxt, sndMax seqnum.Value
	sndWnd, maxSndWnd           uint32
	sndWL1, sndWL2              seqnum.Value
	sndShift                    uint8
	mss                         int // effective send MSS
	ourMSS                      int // MSS we advertise
	snd                         ring
	sndBufSeq                   seqnum.Value // sequence number of snd's first byte
	finQueued                   bool
	finSeq                      seqnum.Value

	// Receive sequence space.
	irs, rcvNxt  seqnum.Value
	rcv          ring
	rcvShift     uint8
	wsOffer      uint8 // shift we offer in our SYN
	sendWS       bool  // put a window scale option in our SYN
	ooo          []seqRange
	rcvFinOOO    bool
	rcvFinSeq    seqnum.Value
	finRcvd      bool
	lastAdvRight seqnum.Value

	// Retransmission.
	rtt       rttEstimator
	rttTiming bool
	rttSeq    seqnum.Value
	rttStart  time.Time
	retries   int
	rtxAt     time.Time // retransmission or persist deadline
	twAt      time.Time // TIME_WAIT or orphaned FIN_WAIT_2 deadline

	// Congestion control (Reno with NewReno recovery, RFC 5681/6582).
	cwnd, ssthresh int
	dupAcks        int
	inRecovery     bool
	recover        seqnum.Value

	ackNow bool
	out    []outSeg
}

// init prepares a closed core with initial sequence number iss and the MSS
// we advertise.
func (c *core) init(cfg *config, ctr *counters, iss seqnum.Value, ourMSS int) {
	*c = core{cfg: cfg, ctr: ctr, iss: iss, ourMSS: ourMSS, out: c.out[:0]}
	c.sndUna, c.sndNxt, c.sndMax = iss, iss, iss
	c.sndBufSeq = iss.Add(1)
	c.recover = iss
	c.snd = newRing(cfg.sndBuf)
	c.rcv = newRing(cfg.rcvBuf)
	c.mss = 536 // RFC 9293 default until the peer tells us
	if cfg.windowScale {
		c.sendWS = true
		for cfg.rcvBuf>>c.wsOffer > 0xffff && c.wsOffer < MaxWindowScale {
			c.wsOffer++
		}
	}
	c.rtt.init(cfg.initRTO, cfg.minRTO, cfg.maxRTO)
	c.ssthresh = 1 << 30
	if c.ooo == nil {
		c.ooo = make([]seqRange, 0, maxOOO)
	}
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
	c.peerSynOptions(seg)
	c.sndWnd = uint32(seg.wnd)
	c.maxSndWnd = c.sndWnd
	c.sndWL1, c.sndWL2 = seg.seq, c.iss
	c.output(now)
}

// peerSynOptions applies the options of the peer's SYN.
func (c *core) peerSynOptions(seg *segment) {
	peerMSS := 536
	if seg.opts.HasMSS && seg.opts.MSS > 0 {
		peerMSS = int(seg.opts.MSS)
	}
	c.mss = max(min(peerMSS, c.ourMSS), 64)
	if c.sendWS && seg.opts.HasWindowScale {
		c.sndShift, c.rcvShift = seg.opts.WindowScale, c.wsOffer
	} else {
		c.sendWS, c.sndShift, c.rcvShift = false, 0, 0
	}
	c.cwnd = 10 * c.mss // RFC 6928 initial window
}

// deadline is when handleTimer must next run, zero if no timer is pending.
func (c *core) deadline() time.Time {
	switch {
	case c.rtxAt.IsZero():
		return c.twAt
	case c.twAt.IsZero() || c.rtxAt.Before(c.twAt):
		return c.rtxAt
	}
	return c.twAt
}

// rcvWnd is the receive window: the free space of the receive buffer.
func (c *core) rcvWnd() int { return c.rcv.free() }

// advertise returns the window field for an outgoing segment.
func (c *core) advertise(syn bool) uint16 {
	free := c.rcvWnd()
	if syn {
		w := min(free, 0xffff)
		c.lastAdvRight = c.rcvNxt.Add(seqnum.Size(w))
		return uint16(w)
	}
	w := min(free>>c.rcvShift, 0xffff)
	c.lastAdvRight = c.rcvNxt.Add(seqnum.Size(w << c.rcvShift))
	return uint16(w)
}

func (c *core) emit(o outSeg) {
	o.wnd = c.advertise(o.syn)
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
	c.rtxAt, c.twAt = time.Time{}, time.Time{}
}

func (c *core) enterTimeWait(now time.Time) {
	c.state = StateTimeWait
	c.rtxAt = time.Time{}
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
			c.sndNxt = c.iss
			c.output(now)
			return
		}
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
			c.ackNow = true
			c.output(now)
		}
		return
	}

	// Second: RST (RFC 5961 section 3: exact match resets, anything else
	// in the window gets a challenge ACK).
	if seg.has(FlagRST) {
		if seg.seq != c.rcvNxt {
			c.ctr.challengeAcks.Inc()
			c.ackNow = true
			c.output(now)
			return
		}
		c.handleReset()
		return
	}

	// Fourth: a SYN in a synchronized state gets a challenge ACK (RFC 5961
	// section 4).
	if seg.has(FlagSYN) {
		c.ctr.challengeAcks.Inc()
		c.ackNow = true
		c.output(now)
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
			c.receiveData(dataSeq, payload)
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
	c.peerSynOptions(seg)
	c.sndWnd = uint32(seg.wnd) // never scaled in a SYN
	c.maxSndWnd = c.sndWnd
	c.sndWL1, c.sndWL2 = seg.seq, seg.ack
	if !ackOK {
		// Simultaneous open: answer with SYN-ACK.
		c.state = StateSynReceived
		c.sndNxt = c.iss
		c.output(now)
		return
	}
	c.sndUna = seg.ack
	if c.rttTiming && c.rttSeq.LessThanEq(seg.ack) {
		c.rtt.sample(now.Sub(c.rttStart))
	}
	c.rttTiming = false
	c.retries = 0
	c.rtxAt = time.Time{}
	c.state = StateEstablished
	c.ctr.activeOpens.Inc()
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
		c.ackNow = true
		return false
	}
	if ack.LessThan(c.sndUna) {
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
	if ack == c.sndUna {
		if c.sndWnd == 0 {
			c.retries = 0 // the peer is alive, probing goes on
		}
		if len(seg.payload) == 0 && seg.flags&(FlagSYN|FlagFIN) == 0 && !windowChanged && c.sndMax != c.sndUna {
			c.dupAcks++
			c.onDupAck(now)
		}
		return true
	}

	// New data acknowledged.
	acked := int(c.sndUna.Size(ack))
	c.dupAcks = 0
	c.retries = 0
	if c.rttTiming && c.rttSeq.LessThanEq(ack) {
		c.rtt.sample(now.Sub(c.rttStart))
		c.rttTiming = false
	}
	dataAcked := min(int(c.sndBufSeq.Size(ack)), c.snd.n)
	if dataAcked > 0 && ack.GreaterThan(c.sndBufSeq) {
		c.snd.discard(dataAcked)
		c.sndBufSeq = c.sndBufSeq.Add(seqnum.Size(dataAcked))
	}
	c.sndUna = ack
	if c.sndNxt.LessThan(ack) {
		c.sndNxt = ack
	}

	if c.inRecovery {
		if ack.GreaterThanEq(c.recover) {
			c.cwnd = min(c.ssthresh, int(c.sndUna.Size(c.sndMax))+c.mss)
			c.inRecovery = false
		} else {
			// Partial ACK: the next hole is lost too (RFC 6582 3.2 step 5).
			c.retransmitFirst()
			c.cwnd = max(c.cwnd-acked+c.mss, c.mss)
		}
	} else if c.cwnd < c.ssthresh {
		c.cwnd += min(acked, c.mss)
	} else {
		c.cwnd += max(1, c.mss*c.mss/c.cwnd)
	}
	c.cwnd = min(c.cwnd, 1<<30)

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

// onDupAck runs fast retransmit and recovery (RFC 5681 3.2, RFC 6582).
func (c *core) onDupAck(now time.Time) {
	switch {
	case c.inRecovery:
		c.cwnd += c.mss
	case c.dupAcks == 3 && c.sndUna.GreaterThan(c.recover):
		flight := int(c.sndUna.Size(c.sndMax))
		c.ssthresh = max(flight/2, 2*c.mss)
		c.cwnd = c.ssthresh + 3*c.mss
		c.recover = c.sndMax
		c.inRecovery = true
		c.ctr.fastRetransmits.Inc()
		c.retransmitFirst()
		c.rtxAt = now.Add(c.rtt.rto)
	}
}

// retransmitFirst resends the oldest unacknowledged segment regardless of
// the windows, and returns its length in sequence space.
func (c *core) retransmitFirst() seqnum.Size {
	c.rttTiming = false // Karn: no sample from a retransmitted segment
	if c.state.handshaking() {
		c.sndNxt = c.iss
		c.emitSyn()
		return 1
	}
	off := int(c.sndBufSeq.Size(c.sndUna))
	outstanding := int(c.sndUna.Size(c.sndMax))
	n := min(c.mss, c.snd.n-off, outstanding)
	n = max(n, 0)
	flags := FlagACK
	if n > 0 {
		flags |= FlagPSH
	}
	if c.finQueued && c.sndUna.Add(seqnum.Size(n)) == c.finSeq && c.sndMax.GreaterThan(c.finSeq) {
		flags |= FlagFIN
	}
	if n == 0 && flags&FlagFIN == 0 {
		return 0
	}
	c.ctr.retransmits.Inc()
	c.emit(outSeg{seq: c.sndUna, ack: c.rcvNxt, flags: flags, dataOff: off, dataLen: n})
	l := seqnum.Size(n)
	if flags&FlagFIN != 0 {
		l++
	}
	return l
}

// receiveData stores in-window data starting at seq (>= rcvNxt).
func (c *core) receiveData(seq seqnum.Value, p []byte) {
	c.ackNow = true
	pos := c.rcv.n + int(c.rcvNxt.Size(seq))
	c.rcv.writeAt(pos, p)
	end := seq.Add(seqnum.Size(len(p)))
	if seq != c.rcvNxt {
		c.ctr.outOfOrder.Inc()
		c.addOOO(seq, end)
		return
	}
	c.advanceRcv(end)
	// Pull in out-of-order ranges the new data reaches.
	for len(c.ooo) > 0 && c.ooo[0].start.LessThanEq(c.rcvNxt) {
		if c.ooo[0].end.GreaterThan(c.rcvNxt) {
			c.advanceRcv(c.ooo[0].end)
		}
		c.ooo = append(c.ooo[:0], c.ooo[1:]...)
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
		if len(c.ooo) == cap(c.ooo) {
			return // too fragmented: drop, the peer retransmits
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
func (c *core) emitSyn() {
	f := FlagSYN
	if c.state == StateSynReceived {
		f |= FlagACK
	}
	c.emit(outSeg{seq: c.iss, ack: c.rcvNxt, flags: f, syn: true})
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
			c.emitSyn()
			if c.rtxAt.IsZero() {
				c.rtxAt = now.Add(c.rtt.rto)
			}
		} else if c.ackNow && c.state == StateSynReceived {
			c.emit(outSeg{seq: c.sndNxt, ack: c.rcvNxt, flags: FlagACK})
		}
		c.ackNow = false
		return
	case StateClosed, StateListen:
		c.ackNow = false
		return
	}
	sent := false
	for {
		off := int(c.sndBufSeq.Size(c.sndNxt))
		avail := max(c.snd.n-off, 0)
		inflight := int(c.sndUna.Size(c.sndNxt))
		space := min(int(c.sndWnd), c.cwnd) - inflight
		n := max(min(avail, space, c.mss), 0)
		fin := c.finQueued && off <= c.snd.n && off+n == c.snd.n && c.sndNxt.Add(seqnum.Size(n)) == c.finSeq
		if n == 0 && !fin {
			break
		}
		// Sender silly window avoidance (RFC 9293 3.8.6.2.1), with
		// Nagle off as Go's net package sets it: a short segment goes only
		// when it carries everything queued, fills half the largest
		// window, or nothing is in flight.
		if n < c.mss && n < avail && uint32(n) < c.maxSndWnd/2 && inflight > 0 {
			break
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
		c.emit(outSeg{seq: c.sndNxt, ack: c.rcvNxt, flags: flags, dataOff: off, dataLen: n})
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
		sent = true
		if fin {
			break
		}
	}
	if !sent && c.ackNow {
		// sndMax, not sndNxt: after a go-back-N retransmission sndNxt may
		// lie before what the peer already has, which would make the ACK
		// unacceptable to it.
		c.emit(outSeg{seq: c.sndMax, ack: c.rcvNxt, flags: FlagACK})
	}
	c.ackNow = false
	// Persist: a zero window with data waiting and nothing in flight to
	// bring a window update.
	if c.sndUna == c.sndMax && c.rtxAt.IsZero() && c.sndWnd == 0 && c.snd.n > int(c.sndBufSeq.Size(c.sndNxt)) {
		c.rtxAt = now.Add(c.rtt.rto)
	}
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
	if c.rtxAt.IsZero() || now.Before(c.rtxAt) {
		return
	}
	c.rtxAt = time.Time{}
	switch c.state {
	case StateClosed, StateListen, StateTimeWait:
		return
	}
	if c.sndUna == c.sndMax {
		// Persist timer: probe a zero window with one byte (RFC 9293
		// 3.8.6.1); the byte is then in flight and retransmitted as usual.
		if c.sndWnd == 0 && c.snd.n > int(c.sndBufSeq.Size(c.sndNxt)) {
			off := int(c.sndBufSeq.Size(c.sndNxt))
			c.emit(outSeg{seq: c.sndNxt, ack: c.rcvNxt, flags: FlagACK, dataOff: off, dataLen: 1})
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
		c.ssthresh = max(flight/2, 2*c.mss)
		c.cwnd = c.mss
		c.inRecovery = false
		c.recover = c.sndMax
		c.dupAcks = 0
	}
	// Retransmit the first segment, then go back N: the rest follows as
	// the congestion window opens again.
	l := c.retransmitFirst()
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
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		w := min(c.rcvWnd()>>c.rcvShift, 0xffff) << c.rcvShift
		newRight := c.rcvNxt.Add(seqnum.Size(w))
		if newRight.GreaterThan(c.lastAdvRight) && int(c.lastAdvRight.Size(newRight)) >= min(c.rcv.max/2, c.ourMSS) {
			c.ackNow = true
			c.output(now)
		}
	}
	return k
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

// abort ends the connection at once, with a RST if it was synchronized.
func (c *core) abort() {
	switch c.state {
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.emitReset(c.sndMax, c.rcvNxt, true)
	}
	c.closeWith(nil)
}

// handleError applies an ICMP error (or local failure) about a segment
// with sequence number seq. Only a connection attempt fails from it.
func (c *core) handleError(kind stack.ErrorKind, seq seqnum.Value) {
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
