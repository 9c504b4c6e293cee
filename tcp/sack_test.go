package tcp

import (
	"testing"

	"github.com/tapstack/tapstack/internal/seqnum"
)

func blocksOf(o outSeg) []SACKBlock { return append([]SACKBlock(nil), o.sack[:o.nsack]...) }

func blk(l, r seqnum.Value) SACKBlock { return SACKBlock{uint32(l), uint32(r)} }

// TestSACKBlockGeneration is RFC 2018 section 4: the first block holds
// the most recently received segment, then the most recent other blocks;
// in-order data removes blocks it covers; a duplicate, below the
// cumulative ACK or of data held out of order, is reported as a D-SACK
// block first (RFC 2883).
func TestSACKBlockGeneration(t *testing.T) {
	b := peerISS + 1
	type rx struct {
		seq seqnum.Value
		n   int
	}
	tests := []struct {
		name string
		segs []rx
		want []SACKBlock // in the ACK for the last segment
	}{
		{"one hole", []rx{{b + 100, 100}}, []SACKBlock{blk(b+100, b+200)}},
		{"most recent first", []rx{{b + 100, 100}, {b + 300, 100}}, []SACKBlock{blk(b+300, b+400), blk(b+100, b+200)}},
		{"back to an older block", []rx{{b + 100, 100}, {b + 300, 100}, {b + 200, 10}}, []SACKBlock{blk(b+100, b+210), blk(b+300, b+400)}},
		{"merging", []rx{{b + 100, 100}, {b + 300, 100}, {b + 200, 100}}, []SACKBlock{blk(b+100, b+400)}},
		{"three blocks fit with timestamps", []rx{{b + 100, 10}, {b + 200, 10}, {b + 300, 10}, {b + 400, 10}},
			[]SACKBlock{blk(b+400, b+410), blk(b+300, b+310), blk(b+200, b+210)}},
		{"in-order data clears covered blocks", []rx{{b + 100, 100}, {b + 300, 100}, {b, 100}}, []SACKBlock{blk(b+300, b+400)}},
		{"all filled: no blocks", []rx{{b + 100, 100}, {b, 100}}, nil},
		{"D-SACK of a duplicate", []rx{{b, 100}, {b + 200, 100}, {b, 100}}, []SACKBlock{blk(b, b+100), blk(b+200, b+300)}},
		{"D-SACK of a partial duplicate", []rx{{b, 100}, {b + 50, 100}}, []SACKBlock{blk(b+50, b+100)}},
		// RFC 2883 section 4, example 4.2: a duplicate of data held out
		// of order; the block holding it comes second.
		{"D-SACK of an out-of-order duplicate", []rx{{b + 100, 100}, {b + 300, 100}, {b + 100, 100}},
			[]SACKBlock{blk(b+100, b+200), blk(b+100, b+200), blk(b+300, b+400)}},
		{"D-SACK of a partial out-of-order duplicate", []rx{{b + 100, 100}, {b + 150, 100}},
			[]SACKBlock{blk(b+150, b+200), blk(b+100, b+250)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tsCore(t)
			var last outSeg
			for _, s := range tt.segs {
				c.handleSegment(t0, tsData(s.seq, peerTS, string(make([]byte, s.n))))
				out := takeOut(c)
				if len(out) == 0 {
					t.Fatalf("no ACK for %+v", s)
				}
				last = out[len(out)-1]
			}
			got := blocksOf(last)
			// EncodedLen drops what does not fit next to the timestamps.
			opts := SegmentOptions{HasTimestamps: true, SACK: last.sack, NumSACK: int(last.nsack)}
			if k := opts.sackBlocksThatFit(12); k < len(got) {
				got = got[:k]
			}
			if len(got) != len(tt.want) {
				t.Fatalf("blocks %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("blocks %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestSACKShortensSegments: a data segment carrying SACK blocks still fits
// the MSS (Linux's tcp_current_mss).
func TestSACKShortensSegments(t *testing.T) {
	c := tsCore(t)
	c.handleSegment(t0, tsData(peerISS+101, peerTS, "x"))
	takeOut(c)
	c.write(t0, make([]byte, 3*c.mss))
	out := takeOut(c)
	if out[0].nsack != 1 || out[0].dataLen != c.mss-12 {
		t.Fatalf("first segment %d bytes with %d blocks, want %d with 1", out[0].dataLen, out[0].nsack, c.mss-12)
	}
}

func TestScoreboard(t *testing.T) {
	const una, mss = seqnum.Value(1000), 100
	sndMax := una + 2000
	type step struct {
		blocks  []SACKBlock
		ack     seqnum.Value
		changed bool
		want    []seqRange
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"insert and merge", []step{
			{[]SACKBlock{{1200, 1300}}, una, true, []seqRange{{1200, 1300}}},
			{[]SACKBlock{{1200, 1300}}, una, false, []seqRange{{1200, 1300}}},
			{[]SACKBlock{{1400, 1500}, {1200, 1300}}, una, true, []seqRange{{1200, 1300}, {1400, 1500}}},
			{[]SACKBlock{{1300, 1400}}, una, true, []seqRange{{1200, 1500}}},
		}},
		{"ignore D-SACK, invalid and beyond SND.MAX", []step{
			{[]SACKBlock{{900, 1000}, {1300, 1200}, {2900, 3100}}, una, false, nil},
		}},
		{"cumulative ACK trims", []step{
			{[]SACKBlock{{1200, 1300}, {1500, 1600}}, una, true, []seqRange{{1200, 1300}, {1500, 1600}}},
			{nil, 1250, false, []seqRange{{1250, 1300}, {1500, 1600}}},
			{nil, 1300, false, []seqRange{{1500, 1600}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s scoreboard
			for i, st := range tt.steps {
				s.advance(st.ack)
				o := SegmentOptions{NumSACK: len(st.blocks)}
				copy(o.SACK[:], st.blocks)
				if ch := s.update(&o, st.ack, sndMax); ch != st.changed {
					t.Fatalf("step %d: changed %v", i, ch)
				}
				if len(s.blocks) != len(st.want) {
					t.Fatalf("step %d: %v want %v", i, s.blocks, st.want)
				}
				for j := range st.want {
					if s.blocks[j] != st.want[j] {
						t.Fatalf("step %d: %v want %v", i, s.blocks, st.want)
					}
				}
			}
		})
	}
}

// TestIsLostPipeNextSeg checks RFC 6675's IsLost, pipe and NextSeg on
// fixed scoreboards (una 1000, SND.MAX 2000, MSS 100).
func TestIsLostPipeNextSeg(t *testing.T) {
	const una, sndMax, mss = seqnum.Value(1000), seqnum.Value(2000), 100
	tests := []struct {
		name     string
		blocks   []seqRange
		rxtNext  seqnum.Value
		lost     bool // IsLost(una)
		pipe     int
		holeSeq  seqnum.Value
		holeN    int
		holeLost bool
		holeOK   bool
	}{
		{"nothing SACKed", nil, una, false, 1000, 0, 0, false, false},
		{"one segment SACKed above", []seqRange{{1100, 1200}}, una, false, 900, 1000, 100, false, true},
		{"three discontiguous blocks", []seqRange{{1100, 1200}, {1300, 1400}, {1500, 1600}}, una,
			true, 100 + 100 + 400, 1000, 100, true, true},
		{"more than 2*MSS SACKed bytes", []seqRange{{1100, 1400}}, una, true, 600, 1000, 100, true, true},
		{"retransmitted hole counts again", []seqRange{{1100, 1400}}, 1100, true, 700, 0, 0, false, false},
		{"second hole after a retransmission", []seqRange{{1100, 1200}, {1300, 1400}, {1500, 1600}, {1700, 1800}}, 1100,
			// holes: 1000 lost+rexmit (100), 1200 lost (0), 1400 and 1600
			// not lost (100 each), tail 1800-2000 (200)
			true, 100 + 100 + 100 + 200, 1200, 100, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scoreboard{blocks: tt.blocks}
			if got := s.isLost(una, mss); got != tt.lost {
				t.Errorf("IsLost(una) = %v", got)
			}
			if got := s.pipe(una, sndMax, tt.rxtNext, mss); got != tt.pipe {
				t.Errorf("pipe = %d, want %d", got, tt.pipe)
			}
			seq, n, lost, ok := s.nextHole(una, tt.rxtNext, mss)
			if ok != tt.holeOK || (ok && (seq != tt.holeSeq || n != tt.holeN || lost != tt.holeLost)) {
				t.Errorf("nextHole = %d %d lost %v ok %v", seq, n, lost, ok)
			}
		})
	}
}

// TestSACKRecovery: segment 1 of 10 is lost and the peer SACKs the rest;
// the sender retransmits it after DupThresh SACKs (RFC 6675 section 5)
// with the window PRR gives (RFC 6937), and a second hole found by SACK is retransmitted
// in the same recovery without waiting for a partial ACK.
func TestSACKRecovery(t *testing.T) {
	c := tsCore(t)
	c.cfg.lossDetection = LossDupAck // RACK: rack_test.go
	c.setLossRecovery()
	c.cwnd = 10 * c.mss
	m := seqnum.Value(c.mss)
	c.write(t0, make([]byte, 10*c.mss))
	if out := takeOut(c); len(out) != 10 {
		t.Fatalf("sent %d segments", len(out))
	}
	una := testISS + 1
	sackAck := func(blocks ...SACKBlock) *segment {
		s := &segment{seq: peerISS + 1, ack: una, flags: FlagACK, wnd: 65535,
			opts: SegmentOptions{HasTimestamps: true, TSVal: peerTS, NumSACK: len(blocks)}}
		copy(s.opts.SACK[:], blocks)
		return s
	}
	// Segments 2 and 3 arrive: two duplicate ACKs, no retransmission yet.
	c.handleSegment(t0, sackAck(blk(una+m, una+2*m)))
	c.handleSegment(t0, sackAck(blk(una+m, una+3*m)))
	if out := takeOut(c); len(out) != 0 || c.inRecovery {
		t.Fatalf("retransmitted early: %+v", out)
	}
	// Segment 5 arrives too (4 lost as well): third SACK, recovery.
	c.handleSegment(t0, sackAck(blk(una+4*m, una+5*m), blk(una+m, una+3*m)))
	out := takeOut(c)
	if !c.inRecovery || c.ctr.sackRecoveries.Load() != 1 {
		t.Fatalf("no SACK recovery: %+v", out)
	}
	if len(out) == 0 || out[0].seq != una || out[0].dataLen != c.mss {
		t.Fatalf("first retransmission %+v", out)
	}
	// PRR (RFC 6937): the ACK delivered one segment of the ten in flight,
	// the proportional share of ssthresh (half a segment) is less than
	// the retransmission already sent: the window leaves no room.
	if pipe := c.sb.pipe(c.sndUna, c.sndMax, c.rxtNext, c.mss); c.cwnd-pipe >= c.mss || c.ssthresh != 5*c.mss { // NewReno in tests: FlightSize/2
		t.Errorf("cwnd %d pipe %d ssthresh %d", c.cwnd, pipe, c.ssthresh)
	}
	// More SACKs: segment 4 (una+3m) has three SACKed segments above it
	// only once 6 and 7 arrive; then it is retransmitted too.
	c.handleSegment(t0, sackAck(blk(una+4*m, una+7*m), blk(una+m, una+3*m)))
	out = takeOut(c)
	found := false
	for _, o := range out {
		if o.seq == una+3*m && o.dataLen == c.mss {
			found = true
		}
	}
	if !found {
		t.Fatalf("second hole not retransmitted: %+v", out)
	}
	// The cumulative ACK of everything ends recovery.
	c.handleSegment(t0, &segment{seq: peerISS + 1, ack: una + 10*m, flags: FlagACK, wnd: 65535})
	if c.inRecovery || len(c.sb.blocks) != 0 {
		t.Errorf("recovery %v blocks %v", c.inRecovery, c.sb.blocks)
	}
}
