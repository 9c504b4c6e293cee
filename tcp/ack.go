package tcp

// The sender's side of an acknowledgment: the ACK field processing of
// RFC 9293 section 3.10.7.4 and the retransmission timer (RFC 6298). An
// ACK updates the send space, then the connection's loss recovery
// (recovery.go: NewReno, SACK or RACK-TLP) is told what it said, and the
// congestion window follows.

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

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
	sackNew, dsack := c.takeSACK(now, seg)
	if c.ecnOn && seg.has(FlagECE) {
		c.onECE(now, ack)
	}
	c.tlpOnAck(now, seg, ack == c.sndUna && !sackNew)
	if ack == c.sndUna {
		if c.sndWnd == 0 {
			c.retries = 0 // the peer is alive, probing goes on
		}
		if len(seg.payload) == 0 && seg.flags&(FlagSYN|FlagFIN) == 0 && (!windowChanged || sackNew) && c.sndMax != c.sndUna {
			c.rec().dupAck(c, now, sackNew, seg.opts.NumSACK > 0)
		}
		c.rec().detect(c, now, seg.opts, dsack)
		if c.inRecovery {
			c.rec().recoveryAck(c, now, 0)
		}
		return true
	}

	// New data acknowledged.
	acked := int(c.sndUna.Size(ack))
	c.ccDelivered += acked
	c.dupAcks = 0
	c.retries = 0
	c.rtt.latest = 0
	if c.tsSample(now, seg) {
		c.rttTiming, c.rttSeq, c.rttStart = false, 0, 0
	} else if c.rttTiming && c.rttSeq.LessThanEq(ack) {
		c.rtt.sample(c.since(now, c.rttStart), c.cfg.minRTO, c.cfg.maxRTO)
		c.rttTiming, c.rttSeq, c.rttStart = false, 0, 0
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
	if c.lossState != nil && c.rtxStamp.on && !ack.LessThan(c.rtxStamp.high) {
		c.rtxStamp.on = false // every retransmission acknowledged
	}
	c.sb.advance(ack)
	if c.sndNxt.LessThan(ack) {
		c.sndNxt = ack
	}
	if c.rxtNext.LessThan(ack) {
		c.rxtNext = ack
	}

	c.undoCheckEifel(now, seg)

	if c.inRecovery {
		if ack.GreaterThanEq(c.recover) {
			c.endRecovery(now)
		} else {
			c.rec().recoveryAck(c, now, acked)
		}
	} else if limited := c.isCwndLimited(); limited || c.pace.p != nil {
		// An algorithm that paces (bbrlite) sees every ACK: it is its
		// model, not RFC 7661's rule, that sizes its window, and while
		// the pacing rate limits the sender the window is not what
		// limits it. It is told when neither did (ccAppLimited).
		c.ccAppLimited = !limited && c.pace.at == 0
		c.ccAck, c.ccNxt, c.ccRTT, c.ccMinRTT = ack, c.sndNxt, c.rtt.latest, c.minRTT()
		if c.ccObserves() {
			c.ccObserve()
		}
		c.ca.onAck(&c.ccWindow, now, acked, c.rtt.srtt)
	}
	c.rec().detect(c, now, seg.opts, dsack)
	c.cwnd = min(c.cwnd, 1<<30)
	if dataAcked > 0 {
		c.sndbufExpand()
		if c.sndWritable() {
			c.raise(evWritable)
		}
	}

	if c.sndUna == c.sndMax {
		c.rtxAt = 0
	} else {
		c.rtxAt = c.at(now.Add(c.rtt.rto))
	}
	c.tlpArm(now, true)

	if c.finQueued && ack == c.finSeq.Add(1) {
		switch c.state {
		case StateFinWait1:
			c.setState(StateFinWait2)
			if c.userClosed {
				c.twAt = c.at(now.Add(c.cfg.finTimeout))
			}
		case StateClosing:
			c.enterTimeWait(now)
		case StateLastAck:
			c.closeWith(nil)
		}
	}
	return true
}

// retransmitFirst resends the oldest unacknowledged segment regardless of
// the windows, and returns its length in sequence space.
func (c *core) retransmitFirst(now time.Time) seqnum.Size {
	c.rttTiming, c.rttSeq, c.rttStart = false, 0, 0 // Karn: no sample from a retransmitted segment
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
	c.undoRetransmitted(now, seq, n)
	c.emit(now, outSeg{seq: seq, ack: c.rcvNxt, flags: flags, dataOff: off, dataLen: n})
	fin := flags&FlagFIN != 0
	c.recordSent(now, seq, n, fin, c.mss)
	l := seqnum.Size(n)
	if fin {
		l++
	}
	return l
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
			c.recordSent(now, c.sndNxt, 1, false, 1)
			c.sndNxt = c.sndNxt.Add(1)
			c.sndMax = c.sndNxt
			c.rtt.backoff(c.cfg.minRTO, c.cfg.maxRTO)
			c.rtxAt = c.at(now.Add(c.rtt.rto))
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
	if int(c.retries) > limit {
		c.ctr.timeouts.Inc()
		c.closeWith(stack.ErrTimedOut)
		return
	}
	c.ctr.rtoExpired.Inc()
	c.rtt.backoff(c.cfg.minRTO, c.cfg.maxRTO)
	if !c.state.handshaking() {
		flight := int(c.sndUna.Size(c.sndMax))
		if c.retries == 1 {
			c.undoArm(now, true)
		}
		c.tlpStop()
		c.ccAck, c.ccNxt = c.sndUna, c.sndMax // the flight the timeout ends
		if c.ccObserves() {
			c.ccObserve()
		}
		c.ca.onTimeout(&c.ccWindow, now, flight)
		c.cwnd = c.mss
		c.inRecovery = false
		c.recover = c.sndMax
		c.dupAcks = 0
		c.rec().timeout(c)
	}
	// Retransmit the first segment, then go back N: the rest follows as
	// the congestion window opens again (skipping SACKed data).
	l := c.retransmitFirst(now)
	c.sndNxt = c.sndUna.Add(l)
	c.rtxAt = c.at(now.Add(c.rtt.rto))
}
