package tcp

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// Recovery driven by the RACK records, as Linux's retransmission queue
// drives it: with RACK on, a record per transmitted segment says whether
// it was delivered (SACKed) and whether it is lost, so the scoreboard is
// exact however many holes a window has (the SACK block list keeps at most
// maxSACKBlocks), the pipe is RFC 6675's with RACK's notion of lost
// (every byte in flight counted once), and what is retransmitted next is
// the first record marked lost, whether it was sent once or already
// retransmitted: a lost retransmission is found by RACK (a segment sent
// after it was delivered) and sent again without waiting for the
// retransmission timer, which RFC 6675's HighRxt would do.

// unmark takes the record s of size bytes out of the delivered and lost
// counts.
func (r *rackState) unmark(s *rackSeg, size int) {
	if s.flags&rsLost != 0 {
		r.lostB -= size
	}
	if s.flags&rsDelivered != 0 {
		r.sackedB -= size
	}
	s.flags &^= rsLost | rsDelivered
}

// rackRecovery is RACK-TLP's loss recovery (RFC 8985), the default with
// SACK: the records find losses by time (rackStep, and the reordering
// timer), they are the scoreboard while they hold anything (the SACK
// scoreboard otherwise), and recovery retransmits what they mark lost;
// PRR sets the window. Duplicate ACKs are counted but decide nothing.
type rackRecovery struct{ prrWindow }

// dupAck counts a duplicate ACK as RFC 6675 does (countDupAck); RACK
// decides (detect).
func (rackRecovery) dupAck(c *core, _ time.Time, sackNew, hasSACK bool) {
	c.countDupAck(sackNew, hasSACK)
}

// detect runs RACK for the ACK (rackStep).
func (rackRecovery) detect(c *core, now time.Time, opts SegmentOptions, dsack bool) {
	c.rackStep(now, &opts, dsack)
}

// exit sets PRR's window and counts the recovery for the reordering
// window's D-SACK adaptation (rackUpdateReoWnd).
func (rackRecovery) exit(c *core) {
	prrWindow{}.exit(c)
	c.rackUpdateReoWnd(false, true)
}

// send retransmits what the records mark lost, then new data
// (rackRecover); without records, RFC 6675's loop.
func (rackRecovery) send(c *core, now time.Time) {
	if c.rack.n > 0 {
		c.rackRecover(now)
	} else {
		c.sackRecover(now)
	}
}

// sacked is what the records hold delivered.
func (rackRecovery) sacked(c *core) int {
	if c.rack.n > 0 {
		return max(c.rack.sackedB, 0)
	}
	return c.sb.sackedBytes()
}

// pipe is RFC 6675's pipe on the records: outstanding bytes neither
// SACKed nor lost (a lost record retransmitted is in flight again).
func (rackRecovery) pipe(c *core) int {
	if c.rack.n > 0 {
		return max(int(c.sndUna.Size(c.sndMax))-c.rack.sackedB-c.rack.lostB, 0)
	}
	return c.sb.pipe(c.sndUna, c.sndMax, c.rxtNext, c.mss)
}

// inFlight is, as Linux's tcp_packets_in_flight counts in every state,
// what was sent and not acknowledged less what the peer SACKed: a SACKed
// segment has left the network. Counting it (RFC 5681's FlightSize)
// stalls the sender after a recovery that ends with much SACKed above a
// hole not yet marked lost, and in the round trip before RACK marks one:
// the window is full of data the peer holds, no new data goes out, and
// the ACK clock stops until RACK's timer or a tail loss probe. Segments
// marked lost count until retransmitted (outside recovery they are, at
// most, about to be). During a go-back-N after a timeout (SND.NXT below
// SND.MAX), and without records, it is what was sent from SND.UNA to
// SND.NXT.
func (rackRecovery) inFlight(c *core) int {
	flight := int(c.sndUna.Size(c.sndNxt))
	if c.rack.n > 0 && c.sndNxt == c.sndMax {
		flight -= max(c.rack.sackedB, 0)
	}
	return max(flight, 0)
}

// skip skips the records the peer has (skipDelivered), else the
// scoreboard's blocks.
func (rackRecovery) skip(c *core) int {
	if c.rack.n > 0 {
		return c.rack.skipDelivered(&c.sndNxt, c.sndMax)
	}
	return c.sb.skip(&c.sndNxt, c.sndMax)
}

// timer is the reordering timer (rackTimer).
func (rackRecovery) timer(c *core, now time.Time) { c.rackTimer(now) }

// timeout disarms the reordering timer: the timeout's go-back-N resends
// what RACK would have.
func (rackRecovery) timeout(c *core) { c.rack.at = 0 }

// rackStep runs RACK for an ACK and starts fast recovery when it finds
// a loss outside recovery (RFC 8985 section 6.2 step 6).
// Data marked lost but not retransmitted also starts recovery when it
// was sent after the last recovery's point (a new congestion event, as
// Linux's tcp_time_to_recover sees lost_out): a recovery that ends with
// losses among the data it sent goes on at once as a new one.
func (c *core) rackStep(now time.Time, opts *SegmentOptions, dsack bool) {
	marked := c.rackOnAck(now, opts, dsack)
	if c.inRecovery || c.rack.lostB == 0 {
		return
	}
	if marked && c.sndUna.GreaterThan(c.recover) {
		c.enterRecovery(now)
	} else if seq, _, ok := c.rack.firstLost(); ok && seq.GreaterThanEq(c.recover) {
		c.enterRecovery(now)
	}
}

// firstLost returns the first record marked lost: where it starts and its
// size.
func (r *rackState) firstLost() (seqnum.Value, int, bool) {
	if r.lostB <= 0 {
		return 0, 0, false
	}
	i := 0
	if r.lostHint.GreaterThan(r.base) {
		i = r.find(r.lostHint)
	}
	for ; i < r.n; i++ {
		if s := r.rec(i); s.flags&rsLost != 0 {
			st := r.start(i)
			r.lostHint = st
			return st, int(st.Size(s.end)), true
		}
	}
	return 0, 0, false
}

// rackRecover is RFC 6675's transmission loop with RACK's lost marks
// (RFC 8985 section 6.2 step 6 and section 7): while the pipe leaves room
// in the window, the first lost record is retransmitted, else new data
// goes out. Holes not marked lost are left to RACK's timer and TLP. A
// pacing algorithm's rate bounds it too (pace.go).
func (c *core) rackRecover(now time.Time) {
	rate, burst := c.paceEarn(now)
	for range 4 * maxSACKBlocks {
		room, ok := c.paceRoom(now, rate, burst, c.cwnd-c.pipe())
		if !ok || room < c.mss {
			return
		}
		if seq, n, ok := c.rack.firstLost(); ok {
			l := c.sendRange(now, seq, n)
			if l == 0 {
				return
			}
			c.paceSpend(rate, int(l))
			if end := seq.Add(l); c.rxtNext.LessThan(end) {
				c.rxtNext = end
			}
			continue
		}
		nxt := c.sndNxt
		if !c.sendNew(now, room) {
			return
		}
		c.paceSpend(rate, int(nxt.Size(c.sndNxt)))
	}
}

// skipDelivered moves *nxt (a go-back-N resend point below sndMax) past
// records the peer has, and returns how many bytes may be sent before the
// next such record, or 0 for no limit: the records' version of
// scoreboard.skip.
func (r *rackState) skipDelivered(nxt *seqnum.Value, sndMax seqnum.Value) int {
	if r.sackedB <= 0 || !nxt.LessThan(sndMax) {
		return 0
	}
	i := r.find(*nxt)
	for ; i < r.n && r.rec(i).flags&rsDelivered != 0; i++ {
		*nxt = r.rec(i).end
	}
	for j := i; j < r.n; j++ {
		if r.rec(j).flags&rsDelivered != 0 {
			return int(nxt.Size(r.start(j)))
		}
	}
	return 0
}
