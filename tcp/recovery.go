package tcp

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// Loss recovery: how the sender finds that segments were lost, what it
// retransmits and with what window until the losses are repaired. One of
// three algorithms runs on a connection, chosen when the handshake has
// settled whether SACK is used (setLossRecovery):
//
//   - newRenoRecovery: without SACK, RFC 5681's three duplicate ACKs
//     and RFC 6582's recovery (window inflation, a retransmission per
//     partial ACK).
//   - sackRecovery: with SACK and Options.LossDetection = LossDupAck,
//     RFC 6675: DupThresh or IsLost on the scoreboard, NextSeg against
//     the pipe.
//   - rackRecovery: with SACK, the default (as on Linux): RFC 8985's
//     RACK finds losses by time on the per-segment records, which are
//     then the scoreboard (rackrecovery.go).
//
// The two SACK-based ones set the window in recovery with PRR (RFC 6937,
// prr.go). What every algorithm shares stays in the core: the ACK's
// update of the send space (ack.go), the congestion controller's response
// on entering recovery and the end of recovery (below), undo (undo.go) and
// the tail loss probe (tlp.go, which needs SACK whichever algorithm runs).
//
// The implementations are zero-size values and keep their state in the
// core (the scoreboard, the RACK records, PRR's counts): storing one in
// the interface allocates nothing, and a call is an indirect call. No
// pointer to a segment crosses the interface (it would make the segment,
// which lives on the stack of the packet path, escape to the heap): the
// options an algorithm reads are passed by value.
type lossRecovery interface {
	// dupAck takes a duplicate ACK (RFC 5681 section 2: it acknowledges
	// nothing new, carries no data and does not change the window, unless
	// it SACKs new data); sackNew says it SACKed data not SACKed before,
	// hasSACK that it carried SACK blocks. The algorithm counts it as its
	// rule says and, outside recovery, may start one (enterRecovery).
	dupAck(c *core, now time.Time, sackNew, hasSACK bool)
	// detect runs the loss detection that follows every ACK once it has
	// been applied to the send space (RACK's, RFC 8985 section 6.2):
	// opts are the ACK's options, dsack says it carried a D-SACK. It may
	// start recovery.
	detect(c *core, now time.Time, opts SegmentOptions, dsack bool)
	// enter is the algorithm's part of starting recovery, after the
	// congestion controller has set ssthresh (enterRecovery): the
	// window, and the first retransmission.
	enter(c *core, now time.Time)
	// recoveryAck sets the window for an ACK during recovery that
	// acknowledged acked new bytes (zero for a duplicate ACK) but not the
	// recovery point: a partial ACK when acked > 0.
	recoveryAck(c *core, now time.Time, acked int)
	// exit sets the window as an ACK at or beyond the recovery point ends
	// recovery (endRecovery).
	exit(c *core)
	// send sends, during recovery, what the window allows: lost data
	// first, then new data.
	send(c *core, now time.Time)
	// sacked returns the bytes above SND.UNA the peer SACKed.
	sacked(c *core) int
	// pipe returns RFC 6675's estimate of the bytes in the network, which
	// PRR and the recovery's transmission loop fill the window against.
	pipe(c *core) int
	// inFlight returns what the congestion window limits outside SACK
	// recovery.
	inFlight(c *core) int
	// skip moves SND.NXT, during a go-back-N resend below SND.MAX, past
	// data the peer SACKed, and returns how many bytes may be sent before
	// the next SACKed data, or 0 for no limit.
	skip(c *core) int
	// timer is the expiry of the reordering timer (rackState.at, which
	// only RACK arms; handleTimer disarms it before the call).
	timer(c *core, now time.Time)
	// timeout takes the retransmission timer's expiry: the algorithm
	// forgets what recovery it had under way.
	timeout(c *core)
}

// setLossRecovery chooses the loss recovery for the connection from
// whether SACK is on and Options.LossDetection (see lossRecovery). It
// runs as the core is made and again once the peer's SYN tells whether
// SACK is used.
func (c *core) setLossRecovery() {
	switch {
	case !c.sackOn:
		c.recKind = recNewReno
	case c.cfg.lossDetection == LossRACK:
		c.recKind = recRACK
	default:
		c.recKind = recSACK
	}
}

// The loss recoveries a connection may use (recKind): one byte in the
// connection where the interface value took sixteen.
const (
	recNewReno = iota
	recSACK
	recRACK
)

// recoveries are the loss recoveries by recKind. The algorithms are
// empty structs, so their interface values cost nothing to copy.
var recoveries = [...]lossRecovery{recNewReno: newRenoRecovery{}, recSACK: sackRecovery{}, recRACK: rackRecovery{}}

// rec is the connection's loss recovery. It is a table lookup, cheap
// enough that the small methods calling it (pipe, inFlight) are inlined
// still: a frame more on the sending path of a Write grows every
// handler's 2 KiB stack for good (recordSent).
func (c *core) rec() lossRecovery { return recoveries[c.recKind] }

// recordSent records with the loss recovery a transmission (new or
// retransmitted) of n bytes of data from seq, and the FIN after them when
// fin, in segments of at most seg bytes: the SACK-based recoveries count
// it for PRR, RACK's records it (rackSent); NewReno keeps nothing. It is
// the one step of the algorithms not behind the interface: it runs for
// every segment sent, on the application's goroutine for a Write, whose
// stack starts at 2 KiB, and the two frames of an indirect call there
// grew every answering server goroutine's stack to 4 KiB for good
// (bench.sh's RSS per idle connection went from 5.8 to 7.8 KiB).
func (c *core) recordSent(now time.Time, seq seqnum.Value, n int, fin bool, seg int) {
	switch c.recKind {
	case recRACK:
		c.prrSent(n)
		l := seqnum.Size(n)
		if fin {
			l++
		}
		c.rackSent(now, seq, seq.Add(l), seg)
	case recSACK:
		c.prrSent(n)
	}
}

// sackedBytes is what the peer SACKed above SND.UNA.
func (c *core) sackedBytes() int { return c.rec().sacked(c) }

// pipe is RFC 6675's estimate of the bytes in flight.
func (c *core) pipe() int { return c.rec().pipe(c) }

// inFlight is what the congestion window limits outside SACK recovery.
func (c *core) inFlight() int { return c.rec().inFlight(c) }

// dupThresh is RFC 5681's duplicate ACK threshold.
const dupThresh = 3

// enterRecovery starts fast retransmit and recovery: the congestion
// response, then the algorithm's window and first retransmission.
func (c *core) enterRecovery(now time.Time) {
	flight := int(c.sndUna.Size(c.sndMax))
	c.undoArm(now, false)
	c.tlpStop()
	if c.ccObserves() {
		c.ccObserve()
	}
	c.ca.onLoss(&c.ccWindow, now, flight)
	c.recover = c.sndMax
	c.inRecovery = true
	c.ctr.fastRetransmits.Inc()
	c.rttTiming, c.rttSeq, c.rttStart = false, 0, 0
	c.rec().enter(c, now)
	c.rtxAt = c.at(now.Add(c.rtt.rto))
}

// endRecovery ends recovery on an ACK at or beyond the recovery point:
// the algorithm's window, at least one segment, and an undo if every
// retransmission turned out spurious meanwhile.
func (c *core) endRecovery(now time.Time) {
	c.rec().exit(c)
	c.cwnd = max(c.cwnd, c.mss)
	c.inRecovery = false
	c.undoAtRecoveryEnd(now)
}

// scoreboardLoss is what the two algorithms without RACK's records share:
// the SACK scoreboard (sack.go, empty without SACK) is what the peer
// holds, everything sent from SND.UNA to SND.NXT is in flight, and there
// is no reordering timer nor per-ACK detection. newRenoRecovery and
// sackRecovery embed it.
type scoreboardLoss struct{}

// detect does nothing: duplicate ACKs decide (dupAck).
func (scoreboardLoss) detect(*core, time.Time, SegmentOptions, bool) {}

// sacked is what the scoreboard holds.
func (scoreboardLoss) sacked(c *core) int { return c.sb.sackedBytes() }

// pipe is RFC 6675's pipe on the scoreboard.
func (scoreboardLoss) pipe(c *core) int { return c.sb.pipe(c.sndUna, c.sndMax, c.rxtNext, c.mss) }

// inFlight is what was sent from SND.UNA to SND.NXT.
func (scoreboardLoss) inFlight(c *core) int { return max(int(c.sndUna.Size(c.sndNxt)), 0) }

// skip skips the scoreboard's SACKed blocks.
func (scoreboardLoss) skip(c *core) int { return c.sb.skip(&c.sndNxt, c.sndMax) }

// timer does nothing: there is no reordering timer.
func (scoreboardLoss) timer(*core, time.Time) {}

// timeout does nothing: no state outlives a timeout.
func (scoreboardLoss) timeout(*core) {}

// newRenoRecovery is recovery without SACK: RFC 5681's fast retransmit on the
// third duplicate ACK and RFC 6582's NewReno fast recovery.
type newRenoRecovery struct{ scoreboardLoss }

// dupAck counts every duplicate ACK; in recovery each inflates the window
// by a segment (RFC 6582 section 3.2 step 4), outside it the third starts
// recovery unless it is still the last recovery's window of data (step 2).
func (newRenoRecovery) dupAck(c *core, now time.Time, _, _ bool) {
	c.dupAcks++
	if c.inRecovery {
		c.cwnd += c.mss
		return
	}
	if c.sndUna.GreaterThan(c.recover) && c.dupAcks >= dupThresh {
		c.enterRecovery(now)
	}
}

// enter is RFC 6582 section 3.2 step 3: cwnd = ssthresh + 3*SMSS and the
// first unacknowledged segment is retransmitted.
func (newRenoRecovery) enter(c *core, now time.Time) {
	c.cwnd = c.ssthresh + 3*c.mss
	c.retransmitFirst(now)
}

// recoveryAck handles a partial ACK (RFC 6582 section 3.2 step 5): the
// next hole is lost too and is retransmitted, and the window deflates by
// what was acknowledged, less a segment. A duplicate ACK did its part in
// dupAck.
func (newRenoRecovery) recoveryAck(c *core, now time.Time, acked int) {
	if acked == 0 {
		return
	}
	c.retransmitFirst(now)
	c.cwnd = max(c.cwnd-acked+c.mss, c.mss)
}

// exit is RFC 6582 section 3.2 step 6's second option: cwnd =
// min(ssthresh, FlightSize + SMSS), which avoids a burst.
func (newRenoRecovery) exit(c *core) {
	c.cwnd = min(c.ssthresh, int(c.sndUna.Size(c.sndMax))+c.mss)
}

// send is the usual sending: NewReno's inflated window limits what is in
// flight.
func (newRenoRecovery) send(c *core, now time.Time) { c.sendWindow(now) }
