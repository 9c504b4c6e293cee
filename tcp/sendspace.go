package tcp

// The send sequence space and the sender (RFC 9293 section 3.3.1): what
// is queued, sent and acknowledged, and the output routine that decides
// what goes on the wire.

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// sndSpace is the sender's state: the send sequence space (RFC 9293
// section 3.3.1), the send buffer, what the peer SACKed, the
// retransmission timer and the congestion window. The core embeds it.
type sndSpace struct {
	iss, sndUna, sndNxt, sndMax seqnum.Value
	sndWnd, maxSndWnd           uint32
	sndWL1, sndWL2              seqnum.Value
	sndBufSeq                   seqnum.Value // sequence number of snd's first byte
	// The segment sizes, in 32 bits (with the flags after them, so that
	// the struct packs tightly).
	ourMSS, defMSS int32 // MSS we advertise; the peer's default (defaultMSS)
	peerMSS        int32 // MSS the peer advertised
	pmtuMSS        int32 // MSS from path MTU discovery, 0 if none
	gsoMax         int32 // payload one TSO super-segment may carry; 0: no TSO
	finQueued      bool
	sndShift       uint8 // the peer's window scale
	rttTiming      bool  // an RTT is being timed (retransmission, below)
	inRecovery     bool  // in loss recovery (rec, below)
	// The send buffer (snd), the SACK scoreboard (sb, RFC 6675), the tail
	// loss probe (tlp), pacing (pace), the retransmission deadline and
	// count and the segment being timed (rttSeq, rttStart) are in the
	// core's busy (busy.go).

	rxtNext seqnum.Value // SACK recovery's next retransmission

	// Retransmission.
	rtt rttEstimator

	// Congestion control: the algorithm adjusts the embedded window; the
	// loss recovery (rec) sets it during recovery.
	ccWindow
	cwndValidation // sndbuf.go
	recover        seqnum.Value
	ca             congestionControl // CUBIC's state, the default's, is in busy: ca points there when it runs
	// *lossState holds what only a connection that has retransmitted
	// needs (undo.go): nil until its first retransmission or loss
	// response (lossOn), so that most connections never carry it.
	*lossState
	rack rackState // rack.go
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
				c.rttTiming, c.rttSeq, c.rttStart = true, c.iss.Add(1), c.at(now)
			}
			c.emitSyn(now)
			if c.rtxAt == 0 {
				c.rtxAt = c.at(now.Add(c.rtt.rto))
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
	if c.inRecovery {
		c.rec().send(c, now)
	} else if c.pace.p != nil {
		c.outputPaced(now)
	} else {
		c.sendWindow(now)
	}
	c.noteCwndUse()
	c.tlpArm(now, c.tlp.restart)
	c.tlp.restart = false
	if c.ackNow {
		// sndMax, not sndNxt: after a go-back-N retransmission sndNxt may
		// lie before what the peer already has, which would make the ACK
		// unacceptable to it.
		c.emit(now, outSeg{seq: c.sndMax, ack: c.rcvNxt, flags: FlagACK})
	}
	c.ackNow = false
	// Persist: a zero window with data waiting and nothing in flight to
	// bring a window update.
	if c.sndUna == c.sndMax && c.rtxAt == 0 && c.sndWnd == 0 && c.snd.n > int(c.sndBufSeq.Size(c.sndNxt)) {
		c.rtxAt = c.at(now.Add(c.rtt.rto))
	}
}

// sendWindow sends new data (or, after a timeout, resends from SND.NXT)
// while the congestion window leaves room for what is in flight.
func (c *core) sendWindow(now time.Time) {
	for c.sendNew(now, c.cwnd-c.inFlight()) {
	}
}

// sendNew sends one segment from sndNxt if the send window, room bytes of
// congestion window, the silly window rules and Nagle allow it. It
// reports whether it sent one.
func (c *core) sendNew(now time.Time, room int) bool {
	// After a timeout (go-back-N) skip what the peer has SACKed.
	limit := c.rec().skip(c)
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
		c.undoRetransmitted(now, c.sndNxt, n)
	}
	if n > 0 && c.sndNxt.GreaterThanEq(c.sndMax) {
		c.tlp.restart = true
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
	c.recordSent(now, o.seq, n, fin, segMax)
	l := seqnum.Size(n)
	if fin {
		l++
	}
	if c.sndNxt.GreaterThanEq(c.sndMax) && n > 0 && !c.rttTiming {
		c.rttTiming, c.rttSeq, c.rttStart = true, c.sndNxt.Add(l), c.at(now)
	}
	c.sndNxt = c.sndNxt.Add(l)
	if c.sndMax.LessThan(c.sndNxt) {
		c.sndMax = c.sndNxt
	}
	if c.rtxAt == 0 {
		c.rtxAt = c.at(now.Add(c.rtt.rto))
	}
	return !fin
}

// superMax is the most payload sendNew may put in one segment of
// segMax-byte segments: segMax, or with TSO as many whole segments as a
// super-segment holds. Retransmissions (below sndMax) stay single
// segments.
func (c *core) superMax(segMax int) int {
	if int(c.gsoMax) <= segMax || c.sndNxt.LessThan(c.sndMax) || c.ecnCWR {
		return segMax // a CWR segment goes alone (TSO with CWR needs the device's ECN GSO type)
	}
	return int(c.gsoMax) / segMax * segMax
}

// write queues as much of p as the send buffer takes and sends what the
// windows allow. It returns the number of bytes queued.
func (c *core) write(now time.Time, p []byte) int {
	c.busyOn()
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

// shutdown closes the sending direction: a FIN follows the queued data.
func (c *core) shutdown(now time.Time) {
	c.busyOn()
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
	c.raise(evWritable) // a waiting Write fails now
	c.finSeq = c.sndBufSeq.Add(seqnum.Size(c.snd.n))
	switch c.state {
	case StateEstablished:
		c.setState(StateFinWait1)
	case StateCloseWait:
		c.setState(StateLastAck)
	}
	c.output(now)
}

// close is the application's Close without unread data: FIN after the
// queued data, and the connection lives on alone until it ends.
func (c *core) close(now time.Time) {
	c.busyOn()
	c.userClosed = true
	c.shutdown(now)
	if c.state == StateFinWait2 && c.twAt == 0 {
		c.twAt = c.at(now.Add(c.cfg.finTimeout))
	}
}
