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
	// batched says the packet came in a device's batch (stack.Packet's
	// Batched): its ACK may wait for the end of the batch (batch.go).
	batched bool
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

// core is the sans-IO TCP state machine of one connection: no locks, no
// goroutines, no clock reads. Callers pass the time in and collect the
// segments to send from out; deadline says when handleTimer is due.
type core struct {
	// The configuration, c.cfg, is in the window (ccWindow.cfg), where
	// the congestion control finds the origin of the stamps.
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
	// dsack holds a duplicate to report; sndLocked (sndbuf.go) says the
	// application set the send buffer size; batching (batch.go) says the
	// segment being handled came in a device's batch, and ackBatch that an
	// ACK waits for the end of that batch.
	ackNow, kaOn, rcvLocked, dsackOn, sndLocked, batching, ackBatch bool
	// Flags of the sender and the receiver, kept here for the same
	// reason: noDelay says Nagle is off (Go's default); sendWS says our
	// SYN carries a window scale option; recKind is the loss recovery
	// (recovery.go: rec), chosen with SACK at the handshake.
	noDelay, sendWS bool
	recKind         uint8
	// events are what happened for the endpoint to act on (events.go).
	events events
	// The terminal error (err), the deadlines of retransmission (rtxAt),
	// delayed ACK (ackAt) and TIME_WAIT (twAt) and the counts of what is
	// unanswered are in busy (busy.go): an idle connection has none.

	sndSpace // the sender (sendspace.go, ack.go)
	rcvSpace // the receiver (recvspace.go)

	// SACK (RFC 2018, 2883, 6675).
	sackOffer bool
	sackOn    bool

	// Timestamps (RFC 7323).
	tsOffer     bool   // offer (active) or answer (passive) timestamps in the SYN
	tsOn        bool   // negotiated
	tsOffset    uint32 // per-connection random offset of our TSval clock
	tsRecent    uint32
	lastAckSent seqnum.Value
	lastOOWAck  uint32   // ms clock of the last ACK for a rejected segment (ratelimit.go); a keepalive probe's sets it
	tsRecentAt  secStamp // when TS.Recent was set, for PAWS's 24 days (timestamps.go)

	// ECN (RFC 3168).
	ecnState

	// Keepalive.
	kaIdleMs, kaIntvlMs uint32 // in milliseconds (keepalive.go: kaIdle, kaIntvl), half the room of two Durations
	kaAt                stamp  // when the keepalive timer is due; 0: not armed
	lastRcv             stamp

	// *busy holds what only a connection with traffic needs: the
	// buffers, the segments to send, the SACK scoreboard, TLP and pacing,
	// the deadlines and counts of what is due, RACK's records and CUBIC's
	// state (busy.go). An idle connection gives it back to a pool;
	// idleBufs keeps its buffers' limits meanwhile.
	*busy
	idleBufs idleBufs
}

// queue hands an emitted segment on. A bare FIN that follows the data of
// a segment still waiting to be built rides on that segment, as Linux's
// tcp_send_fin sets FIN on the unsent tail of the write queue: a response
// written and the sending side shut down before a sender built the
// response leave in one frame, not two, and the peer answers both with
// one ACK. The data's segment keeps its own options: a FIN carrying SACK
// blocks goes alone, as they might not fit beside a full segment's
// payload, and so does one after a TSO super-segment.
func (c *core) queue(o outSeg) {
	if n := len(c.out); n > 0 && o.flags&(FlagFIN|FlagSYN|FlagRST) == FlagFIN && o.dataLen == 0 && o.nsack == 0 {
		last := &c.out[n-1]
		if last.dataLen > 0 && last.gso == 0 && last.flags&(FlagFIN|FlagSYN|FlagRST) == 0 && last.seq.Add(seqnum.Size(last.dataLen)) == o.seq {
			last.flags |= o.flags
			last.ack, last.wnd = o.ack, o.wnd
			last.ts, last.tsVal, last.tsEcr = o.ts, o.tsVal, o.tsEcr
			return
		}
	}
	if c.out == nil {
		c.out = newOut() // a pooled queue: an idle connection gives its own back (shedIdle)
	}
	if len(c.out) == cap(c.out) {
		grown := outPool.get(2 * cap(c.out))[:len(c.out)]
		copy(grown, c.out)
		outPool.put(c.out)
		c.out = grown
	}
	c.out = append(c.out, o)
}

// maxQuickAcks is how many segments are acknowledged at once at the start
// of a connection (Linux TCP_MAX_QUICKACKS).
const maxQuickAcks = 16

// init prepares a closed core with initial sequence number iss,
// timestamp offset tsOffset and the MSS we advertise. Its stamps count
// from cfg.base (stamp.go), so it needs no time.
func (c *core) init(cfg *config, ctr *counters, iss seqnum.Value, ourMSS int, tsOffset uint32) {
	b := c.newBusy()
	*c = core{ctr: ctr,
		sndSpace: sndSpace{iss: iss, ourMSS: int32(ourMSS), ccWindow: ccWindow{cfg: cfg}}}
	c.setBusy(b)
	c.setCongestionControl(cfg.cc)
	c.setLossRecovery()
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
	c.kaIdleMs, c.kaIntvlMs = kaMillis(cfg.kaIdle), kaMillis(cfg.kaIntvl)
	c.tsOffer, c.sackOffer = cfg.timestamps, cfg.sack
	c.ecnOffer = cfg.ecnRequest
	c.ecnRecover = iss
	if cfg.windowScale {
		c.sendWS = true
		for cfg.maxRcvBuf>>c.wsOffer > 0xffff && c.wsOffer < MaxWindowScale {
			c.wsOffer++
		}
	}
	c.rtt.init(cfg.initRTO)
	c.ssthresh = 1 << 30
}

// setCongestionControl switches the algorithm; the window is kept.
// CUBIC, the default, keeps its state in the connection's busy (no
// allocation per connection; setBusy keeps c.ca pointing at it).
func (c *core) setCongestionControl(name string) bool {
	c.busyOn()
	ok := true
	if name == "" || name == "cubic" {
		c.cubic = cubic{}
		c.ca = &c.cubic
	} else if ca, found := newCongestionControl(name); found {
		c.ca = ca
	} else {
		ok = false
		if c.ca == nil {
			c.cubic = cubic{}
			c.ca = &c.cubic
		}
	}
	c.pace = paceState{}
	c.pace.p, _ = c.ca.(pacer)
	return ok
}

// connect starts an active open: SYN_SENT and a SYN on the wire.
func (c *core) connect(now time.Time) {
	c.busyOn()
	c.setState(StateSynSent)
	c.output(now)
}

// acceptSyn starts a passive open from a SYN that arrived at a listener.
func (c *core) acceptSyn(now time.Time, seg *segment) {
	c.busyOn()
	c.passive = true
	c.setState(StateSynReceived)
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
	c.peerMSS = int32(c.defaultMSS())
	if seg.opts.HasMSS && seg.opts.MSS > 0 {
		c.peerMSS = int32(seg.opts.MSS)
	}
	if c.sendWS && seg.opts.HasWindowScale {
		c.sndShift, c.rcvShift = seg.opts.WindowScale, c.wsOffer
	} else {
		c.sendWS, c.sndShift, c.rcvShift = false, 0, 0
	}
	c.tsOn = c.tsOffer && seg.opts.HasTimestamps
	c.tsOffer = c.tsOn
	if c.tsOn {
		c.tsRecent, c.tsRecentAt = seg.opts.TSVal, c.at(now).secs()
	}
	c.sackOn = c.sackOffer && seg.opts.SACKPermitted
	c.sackOffer = c.sackOn
	c.setLossRecovery()
	c.setMSS()
	c.rcvMSS = int32(min(c.mss, 536))
	c.cwnd = 10 * c.mss // RFC 6928 initial window
}

// setMSS sets the send MSS from the peer's MSS, our own and the path's:
// the fixed options (timestamps) come off it.
func (c *core) setMSS() {
	m := int(min(c.peerMSS, c.ourMSS))
	if c.pmtuMSS > 0 {
		m = min(m, int(c.pmtuMSS))
	}
	if c.tsOn {
		m -= tsOptLen
	}
	c.mss = max(m, 64)
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
		c.ackNow, c.ackBatch = false, false
		c.ackAt = 0
		c.rcvUnacked = 0
	}
	c.queue(o)
}

// emitReset queues a RST (with ACK when ack is true).
func (c *core) emitReset(seq, ack seqnum.Value, withAck bool) {
	f := FlagRST
	if withAck {
		f |= FlagACK
	}
	c.queue(outSeg{seq: seq, ack: ack, flags: f})
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
		c.queue(outSeg{seq: seq, ack: ack, flags: f})
	}
}

// closeWith moves to CLOSED with the given terminal error (nil for an
// orderly end) and stops every timer.
func (c *core) closeWith(err error) {
	c.busyOn()
	c.setState(StateClosed)
	if c.err == nil {
		c.err = err
	}
	c.rtxAt, c.twAt, c.ackAt, c.kaAt = 0, 0, 0, 0
	c.tlpStop()
	c.rack.at, c.pace.at = 0, 0
}

func (c *core) enterTimeWait(now time.Time) {
	c.setState(StateTimeWait)
	c.rtxAt, c.ackAt, c.kaAt = 0, 0, 0
	c.tlpStop()
	c.rack.at, c.pace.at = 0, 0
	c.twAt = c.at(now.Add(c.cfg.timeWait))
}

// handleSegment processes one inbound segment (RFC 9293 section 3.10.7).
func (c *core) handleSegment(now time.Time, seg *segment) {
	c.busyOn()
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
	at := c.at(now) // once per segment (a conversion is a time.Sub, slower on times without monotonic readings)
	c.lastRcv = at
	c.kaSent = 0

	// PAWS (RFC 7323 section 5.3 R1) before the sequence number test.
	if c.pawsReject(at, seg) {
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
				c.twAt = c.at(now.Add(c.cfg.timeWait)) // the peer lost our last ACK
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
	c.updateTSRecent(at, seg)
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
		c.setState(StateEstablished)
		c.ctr.passiveOpens.Inc()
		if c.ecnOn {
			c.ctr.ecnNegotiated.Inc()
		}
		c.sndWnd = uint32(seg.wnd) << c.sndShift
		c.maxSndWnd = c.sndWnd
		c.sndWL1, c.sndWL2 = seg.seq, seg.ack
		if c.finQueued {
			c.setState(StateFinWait1)
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
				c.twAt = c.at(now.Add(c.cfg.timeWait))
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
	c.lastRcv = c.at(now)
	if !ackOK {
		// Simultaneous open: answer with SYN-ACK.
		c.setState(StateSynReceived)
		c.sndNxt = c.iss
		c.output(now)
		return
	}
	c.sndUna = seg.ack
	if !c.tsSample(now, seg) && c.rttTiming && c.rttSeq.LessThanEq(seg.ack) {
		c.rtt.sample(c.since(now, c.rttStart), c.cfg.minRTO, c.cfg.maxRTO)
	}
	c.rttTiming, c.rttSeq, c.rttStart = false, 0, 0
	c.retries = 0
	c.rtxAt = 0
	c.setState(StateEstablished)
	c.ctr.activeOpens.Inc()
	if c.ecnOn {
		c.ctr.ecnNegotiated.Inc()
	}
	if c.finQueued {
		c.setState(StateFinWait1)
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

// abort ends the connection at once, with a RST if it was synchronized.
func (c *core) abort() {
	c.busyOn()
	switch c.state {
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		c.emitReset(c.sndMax, c.rcvNxt, true)
	}
	c.closeWith(nil)
}
