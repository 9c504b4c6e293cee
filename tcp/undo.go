package tcp

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// Undo of a congestion response to a spurious retransmission, as Linux's
// tcp_try_undo_* do: reordering (or a delay spike) makes the sender
// retransmit data the peer had, and halve a window that nothing had
// congested. Two detectors tell:
//
//   - Eifel (RFC 3522), with timestamps: the first ACK for the
//     retransmitted data echoes the timestamp of the segment that filled
//     the hole (RFC 7323 section 4.3). Older than the retransmission's, the
//     original arrived: the retransmission was not needed.
//   - D-SACK (RFC 3708): the peer reports each duplicate it received
//     (RFC 2883). Once every byte retransmitted in the episode has been
//     reported a duplicate, none of it was lost.
//
// Either restores the window and threshold from before the response
// (cwnd = max(cwnd, prior cwnd), ssthresh = max(ssthresh, prior
// ssthresh)), ends recovery, and after a timeout stops the go-back-N
// resending. Counters: tcp.undo.eifel and tcp.undo.dsack for fast
// recovery, tcp.undo.rto for a timeout (either detector), tcp.undo.joined
// for a recovery that joined the record of the one before (undoArm).

// undoState is what one congestion response can be undone to.
type undoState struct {
	armed     bool
	rto       bool         // the response was to a retransmission timeout
	eifelDone bool         // the Eifel test has been made
	dsacked   bool         // every retransmitted byte has been D-SACKed
	marker    seqnum.Value // SND.UNA when the response began (undo_marker)
	retransTS uint32       // TSval of the first retransmission (retrans_stamp)
	// priorCwnd and priorSsthresh are the window before the response.
	priorCwnd, priorSsthresh int
	retrans                  int   // bytes retransmitted since, less those D-SACKed (undo_retrans)
	lastRtx                  stamp // when the last byte counted in retrans was sent
}

// rtxStamp is Linux's retrans_stamp: the TSval of the first retransmission
// still outstanding. A recovery that begins while an earlier episode's
// retransmissions are in flight tests Eifel against it, not against its
// own start: the hole at SND.UNA may be filled by that earlier
// retransmission, whose echo would otherwise look older than this
// episode's and undo a real loss.
type rtxStamp struct {
	on   bool
	ts   uint32
	high seqnum.Value // the end of the highest retransmission
}

// lossState is the state of the loss response and its undoing: PRR's
// counts (prr.go), the undo record and the stamp of the retransmissions.
// A connection allocates it at its first retransmission or loss response
// (lossOn) and keeps it: most connections never lose a segment, and an
// idle one should not carry these 96 bytes.
type lossState struct {
	rtxStamp rtxStamp
	prr      prrState
	undo     undoState
}

// lossOn returns the connection's loss state, allocating it on first use.
func (c *core) lossOn() *lossState {
	if c.lossState == nil {
		c.lossState = new(lossState)
	}
	return c.lossState
}

// undoArm records the window before a congestion response to a loss
// found at now (before the algorithm changes it). A timeout within a
// recovery keeps the recovery's record.
//
// So does a fast recovery that begins while the previous response's
// retransmissions still wait for their D-SACKs (undoJoins): the new
// response then joins the record, and one undo restores the window from
// before both. A record of its own would take the first response's
// reduced window as its "before", and undoing it would leave the first
// reduction in place: the way reordering deeper than the duplicate
// threshold, reported only by D-SACK, ratchets the window down.
func (c *core) undoArm(now time.Time, rto bool) {
	c.lossOn()
	if rto && c.inRecovery && c.undo.armed {
		c.undo.rto = true
		return
	}
	if !rto && c.undoJoins(now) {
		c.ctr.undoJoined.Inc()
		return
	}
	ts := c.tsNow(now)
	if c.rtxStamp.on {
		ts = c.rtxStamp.ts
	}
	c.undo = undoState{armed: true, rto: rto, marker: c.sndUna, priorCwnd: c.cwnd, priorSsthresh: c.ssthresh, retransTS: ts}
}

// undoRetransmitted counts n bytes retransmitted from seq at now.
func (c *core) undoRetransmitted(now time.Time, seq seqnum.Value, n int) {
	c.lossOn()
	if !c.rtxStamp.on {
		c.rtxStamp = rtxStamp{on: true, ts: c.tsNow(now), high: seq}
	}
	if end := seq.Add(seqnum.Size(max(n, 1))); c.rtxStamp.high.LessThan(end) {
		c.rtxStamp.high = end
	}
	if c.undo.armed {
		c.undo.retrans += n
		c.undo.dsacked = false
		c.undo.lastRtx = c.at(now)
	}
}

// undoJoins reports whether a fast recovery beginning at now joins the
// armed record rather than replacing it: some of the record's
// retransmissions are not yet reported duplicates, no Eifel test has
// found them needed, and the last was sent within a round trip and its
// variation (srtt + 4*rttvar, at least 1 ms for the clock; the RTO's
// floor left out), when its D-SACK could still be on its way. Older, it
// counts as lost, and the new response gets a record of its own: one
// real loss does not block every later undo.
func (c *core) undoJoins(now time.Time) bool {
	u := &c.undo
	if !u.armed || u.retrans == 0 || (c.tsOn && u.eifelDone) {
		return false
	}
	wait := c.rtt.srtt + max(time.Millisecond, 4*c.rtt.rttvar)
	return c.since(now, u.lastRtx) <= wait
}

// undoCheckDSACK takes the D-SACK block of an ACK, if any (RFC 3708):
// duplicates of what was retransmitted since the marker count down the
// bytes retransmitted. It runs before the SACK blocks update the
// scoreboard.
func (c *core) undoCheckDSACK(now time.Time, seg *segment) {
	b, ok := dsackBlock(&seg.opts, seg.ack)
	if !ok {
		return
	}
	c.ctr.rxDsacks.Inc()
	if c.lossState == nil {
		return // nothing was retransmitted
	}
	u := &c.undo
	if !u.armed || u.retrans == 0 || b.start.LessThan(u.marker) {
		return
	}
	u.retrans -= min(int(b.start.Size(b.end)), u.retrans)
	if u.retrans == 0 {
		u.dsacked = true
		if !c.inRecovery {
			c.undoNow(now, c.ctr.undoDsack)
		}
	}
}

// undoCheckEifel is the Eifel test (RFC 3522) on the first ACK that
// acknowledges the first retransmitted byte; it reports whether it undid.
func (c *core) undoCheckEifel(now time.Time, seg *segment) bool {
	if c.lossState == nil {
		return false
	}
	u := &c.undo
	if !u.armed || u.eifelDone || !c.tsOn || !seg.opts.HasTimestamps || seg.opts.TSEcr == 0 || !seg.ack.GreaterThan(u.marker) {
		return false
	}
	u.eifelDone = true
	if !tsBefore(seg.opts.TSEcr, u.retransTS) {
		return false
	}
	c.undoNow(now, c.ctr.undoEifel)
	return true
}

// undoAtRecoveryEnd undoes, when recovery ends, a response whose
// retransmissions were all D-SACKed meanwhile.
func (c *core) undoAtRecoveryEnd(now time.Time) {
	if c.lossState != nil && c.undo.armed && c.undo.dsacked {
		c.undoNow(now, c.ctr.undoDsack)
	}
}

// undoNow restores the window from before the response and ends it.
func (c *core) undoNow(now time.Time, ctr *stack.Counter) {
	u := &c.undo
	if u.rto {
		ctr = c.ctr.undoRTO
		// The data went back to being in flight: no more go-back-N.
		c.sndNxt = c.sndMax
	}
	ctr.Inc()
	c.cwnd = max(c.cwnd, u.priorCwnd)
	c.ssthresh = max(c.ssthresh, u.priorSsthresh)
	if c.ccObserves() {
		c.ca.(recoveryObserver).onUndo(&c.ccWindow)
	}
	c.inRecovery = false
	c.dupAcks = 0
	// A new loss in this window may start recovery again.
	c.recover = c.sndUna.Sub(1)
	c.rackUndo()
	*u = undoState{}
}
