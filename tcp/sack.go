package tcp

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// Receiver side of SACK (RFC 2018, D-SACK RFC 2883): which blocks an
// outgoing ACK reports.

// noteSACK records that out-of-order data starting at seq just arrived:
// the block holding it goes first in the next ACK (RFC 2018 section 4).
func (c *core) noteSACK(seq seqnum.Value) {
	if !c.sackOn {
		return
	}
	o := c.oooOn()
	n := min(int(o.nrecent), len(o.recent)-1)
	copy(o.recent[1:n+1], o.recent[:n])
	o.recent[0] = seqRange{seq, seq}
	o.nrecent = int32(n + 1)
}

// oooBlock returns the out-of-order block holding seq.
func (c *core) oooBlock(seq seqnum.Value) (seqRange, bool) {
	for _, b := range c.ooo {
		if seq.InRange(b.start, b.end) {
			return b, true
		}
	}
	return seqRange{}, false
}

// fillSACK puts the SACK blocks into o: a pending D-SACK first, then the
// out-of-order blocks, the most recently changed first.
func (c *core) fillSACK(o *outSeg) {
	n, first := 0, 0 // first: the block after the D-SACK, which may repeat it
	add := func(b seqRange) {
		blk := SACKBlock{uint32(b.start), uint32(b.end)}
		for _, x := range o.sack[first:n] {
			if x == blk {
				return
			}
		}
		if n < len(o.sack) {
			o.sack[n] = blk
			n++
		}
	}
	if c.dsackOn {
		c.dsackOn = false
		c.ctr.dsacks.Inc()
		add(c.dsack)
		first = 1 // a whole block duplicated is the D-SACK and the block (RFC 2883 section 4)
	}
	if o := c.oooState; o != nil {
		k := 0
		for i := range int(o.nrecent) {
			if b, ok := c.oooBlock(o.recent[i].start); ok {
				o.recent[k] = o.recent[i]
				k++
				add(b)
			}
		}
		o.nrecent = int32(k)
	}
	for _, b := range c.ooo {
		add(b)
	}
	o.nsack = uint8(n)
}

// sackOptLen is the option space the SACK blocks of the next segment take,
// which comes off its payload so that it still fits the MSS.
func (c *core) sackOptLen() int {
	if !c.sackOn {
		return 0
	}
	k := len(c.ooo)
	if c.dsackOn {
		k++
	}
	fit := 4
	if c.tsOn {
		fit = 3
	}
	if k = min(k, fit); k == 0 {
		return 0
	}
	return 4 + 8*k
}

// maxSACKBlocks bounds the sender's scoreboard; blocks beyond it are
// forgotten (that data is retransmitted needlessly, nothing breaks).
const maxSACKBlocks = 32

// scoreboard is the sender's record of SACKed data above SND.UNA: sorted,
// disjoint, non-adjacent ranges (RFC 6675 section 3).
type scoreboard struct {
	blocks []seqRange
}

// update merges the SACK blocks of an ACK for cumulative ack; blocks at or
// below ack (D-SACK) or beyond sndMax are ignored. It reports whether any
// block SACKed data not SACKed before.
func (s *scoreboard) update(o *SegmentOptions, ack, sndMax seqnum.Value) bool {
	if s.blocks == nil {
		s.blocks = make([]seqRange, 0, maxSACKBlocks)
	}
	changed := false
	for _, b := range o.SACK[:min(o.NumSACK, len(o.SACK))] {
		l, r := seqnum.Value(b.Left), seqnum.Value(b.Right)
		if !l.LessThan(r) || r.LessThanEq(ack) || r.GreaterThan(sndMax) {
			continue
		}
		l = seqnum.Max(l, ack)
		if s.insert(l, r) {
			changed = true
		}
	}
	return changed
}

// insert adds [l, r) and reports whether it covered anything new.
func (s *scoreboard) insert(l, r seqnum.Value) bool {
	i := 0
	for i < len(s.blocks) && s.blocks[i].end.LessThan(l) {
		i++
	}
	j := i
	start, end := l, r
	for j < len(s.blocks) && s.blocks[j].start.LessThanEq(r) {
		start = seqnum.Min(start, s.blocks[j].start)
		end = seqnum.Max(end, s.blocks[j].end)
		j++
	}
	if j == i+1 && s.blocks[i].start == start && s.blocks[i].end == end {
		return false // already known
	}
	if i == j {
		if len(s.blocks) == cap(s.blocks) {
			return false
		}
		s.blocks = append(s.blocks, seqRange{})
		copy(s.blocks[i+1:], s.blocks[i:])
		s.blocks[i] = seqRange{start, end}
		return true
	}
	s.blocks[i] = seqRange{start, end}
	s.blocks = append(s.blocks[:i+1], s.blocks[j:]...)
	return true
}

// advance forgets what the cumulative ACK ack covers.
func (s *scoreboard) advance(ack seqnum.Value) {
	k := 0
	for k < len(s.blocks) && s.blocks[k].end.LessThanEq(ack) {
		k++
	}
	if k > 0 {
		s.blocks = append(s.blocks[:0], s.blocks[k:]...)
	}
	if len(s.blocks) > 0 && s.blocks[0].start.LessThan(ack) {
		s.blocks[0].start = ack
	}
}

// lostAbove reports RFC 6675's IsLost for data just below block i: at
// least DupThresh discontiguous SACKed ranges, or more than
// (DupThresh-1)*mss SACKed bytes, above it.
func (s *scoreboard) lostAbove(i, mss int) bool {
	if len(s.blocks)-i >= dupThresh {
		return true
	}
	bytes := 0
	for _, b := range s.blocks[i:] {
		bytes += int(b.start.Size(b.end))
	}
	return bytes > (dupThresh-1)*mss
}

// isLost is RFC 6675's IsLost(seq).
func (s *scoreboard) isLost(seq seqnum.Value, mss int) bool {
	i := 0
	for i < len(s.blocks) && s.blocks[i].start.LessThanEq(seq) {
		i++
	}
	return i < len(s.blocks) && s.lostAbove(i, mss)
}

// pipe is RFC 6675's estimate of the bytes in flight: every unSACKed byte
// between una and sndMax that is not lost, plus every byte retransmitted
// (below rxtNext) in this recovery.
func (s *scoreboard) pipe(una, sndMax, rxtNext seqnum.Value, mss int) int {
	p := 0
	start := una
	hole := func(a, b seqnum.Value, lost bool) {
		if !a.LessThan(b) {
			return
		}
		if !lost {
			p += int(a.Size(b))
		}
		if rxtNext.GreaterThan(a) {
			p += int(a.Size(seqnum.Min(b, rxtNext)))
		}
	}
	for i, b := range s.blocks {
		hole(start, b.start, s.lostAbove(i, mss))
		start = b.end
	}
	hole(start, sndMax, false)
	return p
}

// nextHole returns the first unSACKed range at or above from that lies
// below some SACKed block (RFC 6675 NextSeg rules 1.a and 1.b), and
// whether it is lost (rule 1.c); n is at most mss.
func (s *scoreboard) nextHole(una, from seqnum.Value, mss int) (seq seqnum.Value, n int, lost, ok bool) {
	start := una
	for i, b := range s.blocks {
		a := seqnum.Max(start, from)
		if a.LessThan(b.start) {
			return a, min(int(a.Size(b.start)), mss), s.lostAbove(i, mss), true
		}
		start = b.end
	}
	return 0, 0, false, false
}

// skip moves *nxt (a go-back-N resend point below sndMax) past SACKed data
// and returns how many bytes may be sent before the next SACKed block, or
// 0 for no limit.
func (s *scoreboard) skip(nxt *seqnum.Value, sndMax seqnum.Value) int {
	if len(s.blocks) == 0 || !nxt.LessThan(sndMax) {
		return 0
	}
	for _, b := range s.blocks {
		if nxt.InRange(b.start, b.end) {
			*nxt = seqnum.Min(b.end, sndMax)
		}
		if nxt.LessThan(b.start) {
			return int(nxt.Size(b.start))
		}
	}
	return 0
}

// sackRecovery is RFC 6675's loss recovery: a hole is lost when
// DupThresh duplicate ACKs arrived or the scoreboard says IsLost, and the
// transmission loop sends NextSeg against the pipe; PRR sets the window.
type sackRecovery struct {
	scoreboardLoss
	prrWindow
}

// dupAck counts a duplicate ACK (countDupAck) and starts recovery,
// outside one and past the last one's window of data, once DupThresh were
// counted or the first unacknowledged byte IsLost (section 5).
func (sackRecovery) dupAck(c *core, now time.Time, sackNew, hasSACK bool) {
	c.countDupAck(sackNew, hasSACK)
	if c.inRecovery || !c.sndUna.GreaterThan(c.recover) {
		return
	}
	if c.dupAcks >= dupThresh || c.sb.isLost(c.sndUna, c.mss) {
		c.enterRecovery(now)
	}
}

// countDupAck counts a duplicate ACK with SACK on: one that SACKs new
// data (RFC 6675 section 2's DupAck), or one without SACK blocks, which
// RFC 5681 would count.
func (c *core) countDupAck(sackNew, hasSACK bool) {
	if sackNew || !hasSACK {
		c.dupAcks++
	}
}

// send is the transmission loop (sackRecover).
func (sackRecovery) send(c *core, now time.Time) { c.sackRecover(now) }

// takeSACK takes the SACK blocks of an ACK, when SACK is on, before the
// cumulative ACK moves SND.UNA: a D-SACK is checked for undo, and the
// scoreboard records the rest. It reports whether they SACKed data not
// SACKed before and whether the first was a D-SACK.
func (c *core) takeSACK(now time.Time, seg *segment) (sackNew, dsack bool) {
	if !c.sackOn || seg.opts.NumSACK == 0 {
		return false, false
	}
	_, dsack = dsackBlock(&seg.opts, seg.ack)
	c.undoCheckDSACK(now, seg)
	if !c.inRecovery {
		c.lossOn().prr.sacked = c.sackedBytes() // what this ACK delivers counts if it starts recovery
	}
	return c.sb.update(&seg.opts, seg.ack, c.sndMax), dsack
}

// sackRecover is RFC 6675 section 5 steps (C): while the pipe leaves at
// least one MSS of the congestion window, send NextSeg: a lost hole, else
// new data, else an unSACKed hole below the highest SACK. A pacing
// algorithm's rate bounds it too (pace.go).
func (c *core) sackRecover(now time.Time) {
	rate, burst := c.paceEarn(now)
	for range 2 * maxSACKBlocks {
		room, ok := c.paceRoom(now, rate, burst, c.cwnd-c.sb.pipe(c.sndUna, c.sndMax, c.rxtNext, c.mss))
		if !ok || room < c.mss {
			return
		}
		seq, n, lost, ok := c.sb.nextHole(c.sndUna, c.rxtNext, c.mss)
		if !ok || !lost {
			nxt := c.sndNxt
			if c.sendNew(now, room) {
				c.paceSpend(rate, int(nxt.Size(c.sndNxt)))
				continue
			}
			if !ok {
				return
			}
		}
		l := c.sendRange(now, seq, n) // a lost hole, or rule 3
		if l == 0 {
			return
		}
		c.rxtNext = seq.Add(l)
		c.paceSpend(rate, int(l))
	}
}

// sackedBytes is the data the scoreboard holds as SACKed.
func (s *scoreboard) sackedBytes() int {
	n := 0
	for _, b := range s.blocks {
		n += int(b.start.Size(b.end))
	}
	return n
}

// dsackBlock returns the D-SACK block an ACK for cumulative ack carries,
// if any (RFC 2883 section 4): a first SACK block at or below the
// cumulative ACK, or one the second block contains.
func dsackBlock(o *SegmentOptions, ack seqnum.Value) (seqRange, bool) {
	if o.NumSACK == 0 {
		return seqRange{}, false
	}
	l, r := seqnum.Value(o.SACK[0].Left), seqnum.Value(o.SACK[0].Right)
	if !l.LessThan(r) {
		return seqRange{}, false
	}
	if r.LessThanEq(ack) {
		return seqRange{l, r}, true
	}
	if o.NumSACK > 1 {
		l2, r2 := seqnum.Value(o.SACK[1].Left), seqnum.Value(o.SACK[1].Right)
		if l2.LessThanEq(l) && r.LessThanEq(r2) {
			return seqRange{l, r}, true
		}
	}
	return seqRange{}, false
}
