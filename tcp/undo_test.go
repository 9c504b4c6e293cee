package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// spuriousRecovery sends ten segments at t0 and has the peer SACK
// segments 2 to 4 at t1, as if segment 1 were only late: the third SACK
// starts fast recovery and retransmits it at t1. It returns the first
// sequence number and the MSS.
func spuriousRecovery(t *testing.T, c *core, t1 time.Time) (una, m seqnum.Value) {
	t.Helper()
	c.cwnd = 10 * c.mss
	m = seqnum.Value(c.mss)
	c.write(t0, make([]byte, 10*c.mss))
	takeOut(c)
	una = c.sndUna
	for i := range seqnum.Value(3) {
		c.handleSegment(t1, peerAck(c, una, 0, blk(una+m, una+(2+i)*m)))
	}
	out := takeOut(c)
	if !c.inRecovery || len(out) == 0 || out[0].seq != una || c.ssthresh != 5*c.mss {
		t.Fatalf("no fast retransmit: recovery %v ssthresh %d out %+v", c.inRecovery, c.ssthresh, out)
	}
	return una, m
}

// peerAck is the peer's ACK of ack with TSecr ecr (when the connection
// has timestamps) and SACK blocks.
func peerAck(c *core, ack seqnum.Value, ecr uint32, blocks ...SACKBlock) *segment {
	s := &segment{seq: c.rcvNxt, ack: ack, flags: FlagACK, wnd: 65535,
		opts: SegmentOptions{HasTimestamps: c.tsOn, TSVal: peerTS, TSEcr: ecr, NumSACK: len(blocks)}}
	copy(s.opts.SACK[:], blocks)
	return s
}

// TestUndoSpuriousRetransmission checks the undo of a fast recovery whose
// retransmission was not needed: Eifel (RFC 3522) with timestamps, D-SACK
// (RFC 3708) without, and that neither undoes a needed one.
func TestUndoSpuriousRetransmission(t *testing.T) {
	t1 := t0.Add(30 * time.Millisecond)
	t2 := t1.Add(30 * time.Millisecond)
	tests := []struct {
		name    string
		ts      bool
		acks    func(c *core, una, m seqnum.Value) []*segment
		counter string // the tcp.undo counter that counts, "" for none
	}{
		{
			name: "RFC 3522: the ACK echoes the original's timestamp", ts: true,
			acks: func(c *core, una, m seqnum.Value) []*segment {
				return []*segment{peerAck(c, una+4*m, c.tsNow(t0))}
			},
			counter: "eifel",
		},
		{
			name: "RFC 3522: the ACK echoes the retransmission's timestamp", ts: true,
			acks: func(c *core, una, m seqnum.Value) []*segment {
				return []*segment{peerAck(c, una+4*m, c.tsNow(t1))}
			},
		},
		{
			name: "RFC 3708: the retransmission is D-SACKed with the ACK that ends recovery",
			acks: func(c *core, una, m seqnum.Value) []*segment {
				return []*segment{peerAck(c, una+10*m, 0, blk(una, una+m))}
			},
			counter: "dsack",
		},
		{
			name: "RFC 3708: the D-SACK comes after recovery",
			acks: func(c *core, una, m seqnum.Value) []*segment {
				return []*segment{peerAck(c, una+10*m, 0), peerAck(c, una+10*m, 0, blk(una, una+m))}
			},
			counter: "dsack",
		},
		{
			name: "RFC 3708: only part of what was retransmitted is D-SACKed",
			acks: func(c *core, una, m seqnum.Value) []*segment {
				return []*segment{peerAck(c, una+10*m, 0, blk(una, una+m/2))}
			},
		},
		{
			name: "RFC 3708: a D-SACK of data sent before the recovery does not count",
			acks: func(c *core, una, m seqnum.Value) []*segment {
				return []*segment{peerAck(c, una+10*m, 0, blk(una-m, una))}
			},
		},
		{
			name: "no D-SACK: the retransmission was needed",
			acks: func(c *core, una, m seqnum.Value) []*segment {
				return []*segment{peerAck(c, una+10*m, 0)}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tsCore(t)
			if !tt.ts {
				c.tsOn, c.tsOffer = false, false
			}
			c.write(t0, make([]byte, 2*c.mss)) // earlier data, acknowledged
			takeOut(c)
			c.handleSegment(t0, peerAck(c, c.sndMax, c.tsNow(t0)))
			takeOut(c)
			priorCwnd, priorSsthresh := max(c.cwnd, 10*c.mss), c.ssthresh
			una, m := spuriousRecovery(t, c, t1)
			for _, a := range tt.acks(c, una, m) {
				c.handleSegment(t2, a)
			}
			undone := c.ssthresh == priorSsthresh && c.cwnd >= priorCwnd
			if undone != (tt.counter != "") {
				t.Errorf("after the ACKs: cwnd %d ssthresh %d (before recovery %d, %d); want undone %v", c.cwnd, c.ssthresh, priorCwnd, priorSsthresh, tt.counter != "")
			}
			got := map[string]uint64{"eifel": c.ctr.undoEifel.Load(), "dsack": c.ctr.undoDsack.Load(), "rto": c.ctr.undoRTO.Load()}
			for k, v := range got {
				if want := uint64(0); k == tt.counter && v != 1 || k != tt.counter && v != want {
					t.Errorf("tcp.undo.%s = %d", k, v)
				}
			}
			if c.inRecovery && c.sndUna == c.sndMax {
				t.Error("still in recovery with everything acknowledged")
			}
		})
	}
}

// TestUndoSpuriousTimeout is Eifel (RFC 3522) after a retransmission
// timeout: the ACK of the retransmitted segment echoes the original's
// timestamp, so the timeout was spurious: the window comes back and the
// go-back-N resending stops (tcp.undo.rto).
func TestUndoSpuriousTimeout(t *testing.T) {
	for _, spurious := range []bool{true, false} {
		c := tsCore(t)
		c.cfg.noTLP = true // the timeout, not a probe first
		c.cwnd = 10 * c.mss
		c.write(t0, make([]byte, 10*c.mss))
		takeOut(c)
		una := c.sndUna
		at := c.due(c.rtxAt)
		c.handleTimer(at)
		if out := takeOut(c); len(out) != 1 || out[0].seq != una || c.cwnd != c.mss {
			t.Fatalf("timeout: cwnd %d, sent %+v", c.cwnd, out)
		}
		ecr := c.tsNow(at)
		if spurious {
			ecr = c.tsNow(t0)
		}
		c.handleSegment(at.Add(time.Millisecond), peerAck(c, una+seqnum.Value(2*c.mss), ecr))
		out := takeOut(c)
		if spurious {
			if c.ctr.undoRTO.Load() != 1 || c.cwnd < 10*c.mss || c.ssthresh != 1<<30 || c.sndNxt != c.sndMax {
				t.Errorf("spurious timeout: undo.rto %d cwnd %d ssthresh %d sndNxt %d sndMax %d", c.ctr.undoRTO.Load(), c.cwnd, c.ssthresh, c.sndNxt, c.sndMax)
			}
			for _, o := range out {
				if o.dataLen > 0 {
					t.Errorf("resent %+v after undoing the timeout", o)
				}
			}
		} else if c.ctr.undoRTO.Load() != 0 || c.cwnd >= 10*c.mss {
			t.Errorf("needed retransmission undone: undo.rto %d cwnd %d", c.ctr.undoRTO.Load(), c.cwnd)
		}
	}
}

// TestUndoJoinsPendingRecovery: a fast recovery that begins while the
// previous one's retransmission still waits for its D-SACK (within
// srtt + 4*rttvar of it) joins that record, and the D-SACKs of both undo
// to the window from before the first (tcp.undo.joined). Later than
// that, the pending retransmission counts as lost and the new recovery
// gets a record of its own, whose undo leaves the first reduction.
func TestUndoJoinsPendingRecovery(t *testing.T) {
	t1 := t0.Add(30 * time.Millisecond)
	for _, tt := range []struct {
		name    string
		gap     time.Duration // from the first retransmission to the second recovery
		joined  bool
		restore bool // ssthresh back to where it was before the first
	}{
		{"within a round trip: joined", 20 * time.Millisecond, true, true},
		{"after srtt+4*rttvar: a record of its own", 500 * time.Millisecond, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tsCore(t)
			c.tsOn, c.tsOffer = false, false
			c.rtt.sample(30*time.Millisecond, c.cfg.minRTO, c.cfg.maxRTO)
			before := c.ssthresh
			una1, m := spuriousRecovery(t, c, t1)
			// The first recovery ends; its D-SACK is still on its way.
			c.handleSegment(t1.Add(time.Millisecond), peerAck(c, una1+10*m, 0))
			takeOut(c)
			if c.inRecovery || c.ssthresh == before {
				t.Fatalf("first recovery: in recovery %v, ssthresh %d", c.inRecovery, c.ssthresh)
			}
			reduced := c.ssthresh
			// Ten more segments, the first late: the third SACK starts
			// the second recovery gap after the first retransmission.
			t2 := t1.Add(tt.gap)
			c.cwnd = 10 * c.mss
			c.write(t2, make([]byte, 10*c.mss))
			takeOut(c)
			una2 := c.sndUna
			for i := range seqnum.Value(3) {
				c.handleSegment(t2, peerAck(c, una2, 0, blk(una2+m, una2+(2+i)*m)))
			}
			if !c.inRecovery || takeOut(c)[0].seq != una2 {
				t.Fatal("no second fast retransmit")
			}
			if got := c.ctr.undoJoined.Load() == 1; got != tt.joined {
				t.Errorf("tcp.undo.joined = %d, want joined %v", c.ctr.undoJoined.Load(), tt.joined)
			}
			// Both retransmissions come back as duplicates.
			t3 := t2.Add(time.Millisecond)
			c.handleSegment(t3, peerAck(c, una2+10*m, 0, blk(una1, una1+m)))
			c.handleSegment(t3, peerAck(c, una2+10*m, 0, blk(una2, una2+m)))
			want := reduced
			if tt.restore {
				want = before
			}
			if c.ssthresh != want || c.ctr.undoDsack.Load() != 1 {
				t.Errorf("ssthresh %d (before the first %d, after it %d), tcp.undo.dsack %d; want ssthresh %d and one undo",
					c.ssthresh, before, reduced, c.ctr.undoDsack.Load(), want)
			}
		})
	}
}
