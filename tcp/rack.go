package tcp

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// RACK (RFC 8985 sections 6.1-6.3), the default loss detection with
// SACK, as on Linux: a segment is lost when a segment sent sufficiently
// later has been delivered (cumulatively acknowledged or SACKed): more
// than the RTT of that later segment plus a reordering window
// (RACK.reo_wnd) after it was itself sent. Time, not a count of
// duplicate ACKs, decides, so reordering deeper than three segments is
// not taken for loss, and a lost retransmission or tail is found without
// waiting for duplicates. The reordering window starts at min_RTT/4 (zero
// before reordering is seen, in recovery or once DupThresh segments are
// SACKed), grows with each round that brings a D-SACK and is bounded by
// SRTT; a segment not yet past it is re-examined by the reordering timer.
// Options.LossDetection = LossDupAck keeps RFC 6675's DupThresh instead.
//
// The sender keeps, beside the send buffer, a bounded ring of per-segment
// records (end sequence number, transmit time, flags): 16 bytes a
// segment, grown by doubling up to maxRackSegs and then reused, so that
// steady state allocates nothing.

// rackSeg is one transmitted segment: it covers the sequence space from
// the previous record's end (or rackState.base) to end.
type rackSeg struct {
	end   seqnum.Value
	flags uint8
	xmit  time.Duration // transmit time, as a stamp (c.at)
}

const (
	rsRetrans   uint8 = 1 << iota // retransmitted at least once
	rsDelivered                   // SACKed (or acknowledged)
	rsLost                        // RACK marked it lost, not retransmitted since
)

// maxRackSegs bounds the records of one connection; beyond it the last
// record grows (its data then looks sent later than it was, which only
// delays its loss detection).
const maxRackSegs = 1 << 14

// rackState is RFC 8985's RACK state and the segment records.
type rackState struct {
	// *rackRecs is in the core's busy (busy.go): the records and the
	// reordering timer, which an idle connection has none of.
	*rackRecs
	base seqnum.Value // start of the first record

	xmitTS     time.Duration // RACK.xmit_ts: newest transmit time delivered
	endSeq     seqnum.Value  // RACK.end_seq
	fack       seqnum.Value  // RACK.fack: highest end delivered
	rtt        time.Duration // RACK.rtt
	minRTT     time.Duration // min_RTT, zero before the first sample
	mult       int32         // RACK.reo_wnd_mult
	persist    int32         // RACK.reo_wnd_persist
	dsackRound seqnum.Value  // RACK.dsack_round, valid when dsackOn
	dsackOn    bool
	seen       bool // a delivery has set xmitTS
	started    bool // something was sent: fack is set
	reordering bool // RACK.reordering_seen
}

// rackRecs are RACK's segment records and reordering timer.
type rackRecs struct {
	segs    []rackSeg // ring of records in sequence order
	head, n int       // first record and count
	// The records are the sender's scoreboard under RACK (rackrecovery.go):
	// sackedB and lostB are the bytes of the records marked delivered and
	// lost, and no record below lostHint is marked lost.
	lostHint       seqnum.Value
	sackedB, lostB int
	at             stamp // the reordering timer, 0 when not armed
}

// LossDetection selects how the sender finds lost segments.
type LossDetection uint8

const (
	// LossRACK is RACK (RFC 8985), the default; without SACK the
	// sender falls back to NewReno's duplicate ACKs.
	LossRACK LossDetection = iota
	// LossDupAck is the duplicate ACK threshold of RFC 5681 and RFC
	// 6675's IsLost (three SACKed segments above a hole).
	LossDupAck
)

// rackOn says RACK detects losses on this connection.
func (c *core) rackOn() bool {
	return c.recKind == recRACK
}

// rec returns the record i places after the head.
func (r *rackState) rec(i int) *rackSeg { return &r.segs[(r.head+i)&(len(r.segs)-1)] }

// start returns where record i begins.
func (r *rackState) start(i int) seqnum.Value {
	if i == 0 {
		return r.base
	}
	return r.rec(i - 1).end
}

// sentAfter is RFC 8985's RACK_sent_after(t1, seq1, t2, seq2).
func sentAfter(t1 time.Duration, seq1 seqnum.Value, t2 time.Duration, seq2 seqnum.Value) bool {
	return t1 > t2 || (t1 == t2 && seq1.GreaterThan(seq2))
}

// find returns the first record whose end lies beyond seq (binary search).
func (r *rackState) find(seq seqnum.Value) int {
	lo, hi := 0, r.n
	for lo < hi {
		m := (lo + hi) / 2
		if r.rec(m).end.LessThanEq(seq) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// push appends a record for new data [start, end) sent at t.
func (r *rackState) push(start, end seqnum.Value, t time.Duration) {
	if r.n == 0 {
		r.base = start
	}
	if r.n == len(r.segs) {
		if len(r.segs) >= maxRackSegs {
			// The last record grows; what it held counts as neither
			// delivered nor lost any more (at worst resent needlessly).
			last := r.rec(r.n - 1)
			r.unmark(last, int(r.start(r.n-1).Size(last.end)))
			last.end, last.xmit = end, t
			return
		}
		var grown []rackSeg
		if len(r.segs) == 0 {
			grown = newRackSegs() // 128 bytes, pooled: most connections keep few segments in flight; an idle one gives them back (shedIdle)
		} else {
			grown = rackPool.get(2 * len(r.segs))
		}
		for i := range r.n {
			grown[i] = *r.rec(i)
		}
		if r.segs != nil {
			rackPool.put(r.segs)
		}
		r.segs, r.head = grown, 0
	}
	r.n++
	*r.rec(r.n - 1) = rackSeg{end: end, xmit: t}
}

// rackSent records data [seq, end) sent at now, cut in pieces of at
// most seg bytes (a TSO super-segment's segments); retransmissions
// update the records they cover.
func (c *core) rackSent(now time.Time, seq, end seqnum.Value, seg int) {
	if !seq.LessThan(end) {
		return
	}
	r := &c.rack
	if !r.started {
		r.started = true
		// RACK.fack starts at the first byte sent, not at zero: a
		// delivery "below" a zero compares by the sign of the distance,
		// and half of all initial sequence numbers took the first
		// in-order ACK for reordering (and RACK's reordering window
		// was on from the start).
		r.fack = seq
	}
	t := time.Duration(c.at(now))
	if seq.LessThan(c.sndMax) && r.n > 0 {
		for i := r.find(seq); i < r.n && r.start(i).LessThan(end); i++ {
			s := r.rec(i)
			if s.flags&rsLost != 0 {
				r.lostB -= int(r.start(i).Size(s.end))
			}
			s.flags = s.flags&^rsLost | rsRetrans
			s.xmit = t
		}
		if !end.GreaterThan(c.sndMax) {
			return
		}
		seq = c.sndMax
	}
	if r.n > 0 && r.rec(r.n-1).end != seq {
		r.reset() // a gap (should not happen): start over
	}
	for seq.LessThan(end) {
		e := seqnum.Min(seq.Add(seqnum.Size(max(seg, 1))), end)
		r.push(seq, e, t)
		seq = e
	}
}

// reset forgets every record.
func (r *rackState) reset() {
	r.head, r.n, r.sackedB, r.lostB = 0, 0, 0, 0
}

// deliver is RFC 8985 section 6.2 steps 2 and 3 for a record of size
// bytes newly delivered at t (a stamp); echoesOriginal says the ACK's
// timestamp echo is older than the record's last transmission.
func (r *rackState) deliver(s *rackSeg, size int, t time.Duration, echoesOriginal bool) {
	r.unmark(s, size)
	r.sackedB += size
	s.flags |= rsDelivered
	rtt := t - s.xmit
	if s.flags&rsRetrans != 0 && (echoesOriginal || r.minRTT > 0 && rtt < r.minRTT) {
		return // ambiguous: an ACK for the original, not the retransmission
	}
	if s.flags&rsRetrans == 0 && rtt > 0 && (r.minRTT == 0 || rtt < r.minRTT) {
		r.minRTT = rtt
	}
	if !r.seen || sentAfter(s.xmit, s.end, r.xmitTS, r.endSeq) {
		r.rtt, r.xmitTS, r.endSeq, r.seen = max(rtt, 0), s.xmit, s.end, true
	}
	if s.end.LessThan(r.fack) {
		r.reordering = true
	} else {
		r.fack = s.end
	}
}

// rackOnAck runs RACK for an ACK with options opts (RFC 8985 section
// 6.2): records the cumulative ACK and the SACK blocks deliver, the
// reordering window, and the loss detection. dsack says the ACK carried a
// D-SACK. It reports whether segments are marked lost.
func (c *core) rackOnAck(now time.Time, opts *SegmentOptions, dsack bool) bool {
	r := &c.rack
	t := time.Duration(c.at(now))
	for r.n > 0 && r.rec(0).end.LessThanEq(c.sndUna) {
		s := r.rec(0)
		size := int(r.base.Size(s.end))
		if s.flags&rsDelivered == 0 {
			r.deliver(s, size, t, c.echoesBefore(opts, s.xmit))
		}
		r.unmark(s, size)
		r.base = s.end
		r.head = (r.head + 1) & (len(r.segs) - 1)
		r.n--
	}
	if r.n == 0 {
		r.sackedB, r.lostB = 0, 0
	} else if r.base.LessThan(c.sndUna) {
		// A cumulative ACK inside the first record: its acknowledged
		// part leaves the counts.
		if s := r.rec(0); s.flags&(rsDelivered|rsLost) != 0 {
			cut := int(r.base.Size(c.sndUna))
			if s.flags&rsDelivered != 0 {
				r.sackedB -= cut
			} else {
				r.lostB -= cut
			}
		}
		r.base = c.sndUna
	}
	for _, b := range opts.SACK[:min(opts.NumSACK, len(opts.SACK))] {
		l, rt := seqnum.Value(b.Left), seqnum.Value(b.Right)
		if !l.LessThan(rt) || rt.LessThanEq(c.sndUna) {
			continue
		}
		for i := r.find(l); i < r.n && !rt.LessThan(r.rec(i).end); i++ {
			if s := r.rec(i); s.flags&rsDelivered == 0 && !r.start(i).LessThan(l) {
				r.deliver(s, int(r.start(i).Size(s.end)), t, c.echoesBefore(opts, s.xmit))
			}
		}
	}
	if dsack {
		r.reordering = true // a spurious retransmission (RFC 8985 6.2 step 3)
	}
	c.rackUpdateReoWnd(dsack, false)
	return c.rackDetect(now)
}

// echoesBefore reports whether the timestamp echo of an ACK with options
// opts is older than the TSval of a transmission at xmit (a stamp).
func (c *core) echoesBefore(opts *SegmentOptions, xmit time.Duration) bool {
	return c.tsOn && opts.HasTimestamps && opts.TSEcr != 0 && tsBefore(opts.TSEcr, c.tsNow(c.time(stamp(xmit))))
}

// rackUndo forgets the lost marks when a congestion response is undone
// as spurious (as Linux's tcp_undo_cwnd_reduction): what looked lost was
// reordered, which from now on widens the window.
func (c *core) rackUndo() {
	r := &c.rack
	for i := range r.n {
		r.rec(i).flags &^= rsLost
	}
	r.lostB = 0
	r.reordering = true
}

// reoWnd is RFC 8985 section 6.2 step 4's window: zero before
// reordering has been seen when in recovery or with DupThresh segments
// SACKed, else min_RTT/4 times the multiplier, at most SRTT.
func reoWnd(minRTT, srtt time.Duration, mult int, reordering, recovery bool, sacked int) time.Duration {
	if !reordering && (recovery || sacked >= dupThresh) {
		return 0
	}
	return min(minRTT*time.Duration(max(mult, 1))/4, srtt)
}

// rackUpdateReoWnd is the D-SACK adaptation of RFC 8985 section 6.2
// step 4: a round (up to SND.NXT) with a D-SACK grows the multiplier,
// which 16 recoveries without one reset; recoveryEnd says a recovery
// just ended.
func (c *core) rackUpdateReoWnd(dsack, recoveryEnd bool) {
	r := &c.rack
	if r.dsackOn && c.sndUna.GreaterThanEq(r.dsackRound) {
		r.dsackOn = false
	}
	switch {
	case !r.dsackOn && dsack:
		r.dsackOn, r.dsackRound = true, c.sndNxt
		r.mult = max(r.mult, 1) + 1
		r.persist = 16
	case recoveryEnd:
		if r.persist--; r.persist <= 0 {
			r.mult, r.persist = 1, 0
		}
	}
}

// rackDetect is RACK_detect_loss (RFC 8985 section 6.2 step 5): every
// undelivered record sent before RACK.xmit_ts (and RACK.end_seq) more
// than RACK.rtt + reo_wnd ago is lost; for the others the reordering
// timer is armed for when they would be. It reports whether it marked
// any record lost.
func (c *core) rackDetect(now time.Time) bool {
	r := &c.rack
	r.at = 0
	if !r.seen {
		return false
	}
	t := time.Duration(c.at(now))
	wnd := reoWnd(r.minRTT, c.rtt.srtt, int(r.mult), r.reordering, c.inRecovery || c.retries > 0, c.sackedBytes()/max(c.mss, 1))
	var timeout time.Duration
	marked := false
	for i := range r.n {
		s := r.rec(i)
		if !sentAfter(r.xmitTS, r.endSeq, s.xmit, s.end) {
			if s.flags&rsRetrans == 0 {
				break // every later record was sent later still
			}
			continue
		}
		if s.flags&(rsDelivered|rsLost) != 0 {
			continue
		}
		if remaining := s.xmit + r.rtt + wnd - t; remaining <= 0 {
			s.flags |= rsLost
			st := r.start(i)
			if r.lostB == 0 || st.LessThan(r.lostHint) {
				r.lostHint = st
			}
			r.lostB += int(st.Size(s.end))
			c.ccLost += int(st.Size(s.end))
			marked = true
		} else {
			timeout = max(timeout, remaining)
		}
	}
	if timeout > 0 {
		r.at = c.at(now.Add(timeout))
	}
	return marked
}

// rackTimer is the reordering timer's expiry (RFC 8985 section 6.3):
// detect again, and start recovery if something is now lost.
func (c *core) rackTimer(now time.Time) {
	if c.sndUna == c.sndMax {
		return
	}
	if c.rackDetect(now) && !c.inRecovery {
		c.enterRecovery(now)
	}
	c.output(now)
}
