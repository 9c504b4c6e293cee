package tcp

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// recoveryStep is one event of a TestLossRecoveryRules row: an ACK from
// the peer at a time after t0, or the expiry of the due timer.
type recoveryStep struct {
	at    time.Duration // after t0; zero: 30ms
	ack   int           // cumulative ACK: segments acknowledged
	sack  [][2]int      // SACK blocks, in segments [from, to)
	timer bool          // fire the timer due (c.deadline()) instead
}

// dups returns n duplicate ACKs without SACK blocks.
func dups(n int) []recoveryStep { return make([]recoveryStep, n) }

// recoveryCore returns a connection with loss recovery alg ("NewReno",
// "SACK" or "RACK") that sent ten segments at t0 with a window of ten.
func recoveryCore(t testing.TB, alg string) *core {
	t.Helper()
	c := tsCore(t)
	switch alg {
	case "NewReno":
		c.sackOn = false
	case "SACK":
		c.cfg.lossDetection = LossDupAck
	case "RACK":
		c.cfg.lossDetection = LossRACK
	}
	c.setLossRecovery()
	if got := fmt.Sprintf("%T", c.rec()); got != map[string]string{"NewReno": "tcp.newRenoRecovery", "SACK": "tcp.sackRecovery", "RACK": "tcp.rackRecovery"}[alg] {
		t.Fatalf("%s chose %s", alg, got)
	}
	c.cwnd = 10 * c.mss
	c.write(t0, make([]byte, 10*c.mss))
	if out := takeOut(c); len(out) != 10 {
		t.Fatalf("sent %d segments, want 10", len(out))
	}
	return c
}

// TestLossRecoveryRules drives each loss recovery (recovery.go) through
// the rules of its RFC: when recovery starts, what is retransmitted on a
// partial ACK, and the window as it starts, goes on and ends. Ten
// segments are in flight with a window of ten; the congestion control is
// Reno, so ssthresh becomes five segments. After the steps, wantRtx are
// the segments the last step retransmitted and wantCwnd the window in
// segments (-1: not checked).
func TestLossRecoveryRules(t *testing.T) {
	tests := []struct {
		name     string
		alg      string
		steps    []recoveryStep
		wantRec  bool
		wantRtx  []int
		wantCwnd int
	}{
		{name: "RFC 6582 3.2 step 2: two duplicate ACKs are no loss", alg: "NewReno",
			steps: dups(2), wantCwnd: 10},
		{name: "RFC 6582 3.2 step 3: the third duplicate ACK retransmits, cwnd = ssthresh + 3*SMSS", alg: "NewReno",
			steps: dups(3), wantRec: true, wantRtx: []int{0}, wantCwnd: 8},
		{name: "RFC 6582 3.2 step 4: each further duplicate ACK inflates cwnd by SMSS", alg: "NewReno",
			steps: dups(5), wantRec: true, wantCwnd: 10},
		{name: "RFC 6582 3.2 step 5: a partial ACK retransmits the next segment and deflates cwnd", alg: "NewReno",
			steps: append(dups(3), recoveryStep{ack: 3}), wantRec: true, wantRtx: []int{3}, wantCwnd: 8 - 3 + 1},
		{name: "RFC 6582 3.2 step 6: the full ACK ends recovery, cwnd = min(ssthresh, FlightSize + SMSS)", alg: "NewReno",
			steps: append(dups(3), recoveryStep{ack: 10}), wantCwnd: 1},

		{name: "RFC 6675 5: a hole with less than DupThresh SACKed above is not lost", alg: "SACK",
			steps: []recoveryStep{{sack: [][2]int{{1, 3}}}}, wantCwnd: 10},
		{name: "RFC 6675 5: IsLost(SND.UNA) starts recovery before DupThresh duplicate ACKs", alg: "SACK",
			steps: []recoveryStep{{sack: [][2]int{{1, 4}}}}, wantRec: true, wantRtx: []int{0}, wantCwnd: -1},
		{name: "RFC 6675 5: DupThresh duplicate ACKs start recovery without SACK information", alg: "SACK",
			steps: dups(3), wantRec: true, wantRtx: []int{0}, wantCwnd: -1},
		{name: "RFC 6675 5 (C): after a partial ACK NextSeg retransmits the next lost hole", alg: "SACK",
			steps:   []recoveryStep{{sack: [][2]int{{1, 4}}}, {at: 60 * time.Millisecond, ack: 4, sack: [][2]int{{5, 8}}}},
			wantRec: true, wantRtx: []int{4}, wantCwnd: -1},
		{name: "RFC 6937 3.1: recovery ends with cwnd = ssthresh", alg: "SACK",
			steps: []recoveryStep{{sack: [][2]int{{1, 4}}}, {at: 60 * time.Millisecond, ack: 10}}, wantCwnd: 5},

		{name: "RFC 8985 6.2: duplicate ACKs without a delivery are no loss (time decides, not a count)", alg: "RACK",
			steps: dups(3), wantCwnd: 10},
		{name: "RFC 8985 6.2 step 4: within the reordering window a SACK is not a loss", alg: "RACK",
			steps: []recoveryStep{{sack: [][2]int{{1, 2}}}}, wantCwnd: 10},
		{name: "RFC 8985 6.3: the reordering timer finds the loss once the window has passed", alg: "RACK",
			steps: []recoveryStep{{sack: [][2]int{{1, 2}}}, {timer: true}}, wantRec: true, wantRtx: []int{0}, wantCwnd: -1},
		{name: "RFC 8985 6.2 step 4: no reordering window once DupThresh segments are SACKed", alg: "RACK",
			steps: []recoveryStep{{sack: [][2]int{{1, 4}}}}, wantRec: true, wantRtx: []int{0}, wantCwnd: -1},
		// The partial ACK delivers the retransmission of segment 0 (sent
		// at 30ms): every segment sent before it more than RACK.rtt ago
		// and not delivered is lost, the tail (8, 9) as well as the hole
		// at 4, which RFC 6675 would not call lost yet.
		{name: "RFC 8985 6.2 step 5: after a partial ACK what was sent before the delivered retransmission is lost", alg: "RACK",
			steps:   []recoveryStep{{sack: [][2]int{{1, 4}}}, {at: 60 * time.Millisecond, ack: 4, sack: [][2]int{{5, 8}}}},
			wantRec: true, wantRtx: []int{4, 8, 9}, wantCwnd: -1},
		{name: "RFC 6937 3.1 under RACK: recovery ends with cwnd = ssthresh", alg: "RACK",
			steps: []recoveryStep{{sack: [][2]int{{1, 4}}}, {at: 60 * time.Millisecond, ack: 10}}, wantCwnd: 5},
	}
	for _, tt := range tests {
		t.Run(tt.alg+": "+tt.name, func(t *testing.T) {
			c := recoveryCore(t, tt.alg)
			una := c.sndUna
			seg := func(i int) seqnum.Value { return una.Add(seqnum.Size(i * c.mss)) }
			var rtx []int
			for _, s := range tt.steps {
				at := t0.Add(30 * time.Millisecond)
				if s.at != 0 {
					at = t0.Add(s.at)
				}
				sndMax := c.sndMax
				if s.timer {
					if c.rack.at == 0 {
						t.Fatal("no reordering timer armed")
					}
					c.handleTimer(c.deadline())
				} else {
					var blocks []SACKBlock
					for _, b := range s.sack {
						blocks = append(blocks, blk(seg(b[0]), seg(b[1])))
					}
					c.handleSegment(at, peerAck(c, seg(s.ack), c.tsNow(at), blocks...))
				}
				rtx = rtx[:0]
				for _, o := range takeOut(c) {
					if o.dataLen > 0 && o.seq.LessThan(sndMax) {
						rtx = append(rtx, int(una.Size(o.seq))/c.mss)
					}
				}
			}
			if c.inRecovery != tt.wantRec {
				t.Errorf("in recovery %v, want %v", c.inRecovery, tt.wantRec)
			}
			if !slices.Equal(rtx, tt.wantRtx) {
				t.Errorf("retransmitted segments %v, want %v", rtx, tt.wantRtx)
			}
			if tt.wantCwnd >= 0 && c.cwnd != tt.wantCwnd*c.mss {
				t.Errorf("cwnd %d segments (%d bytes), want %d", c.cwnd/c.mss, c.cwnd, tt.wantCwnd)
			}
		})
	}
}

// BenchmarkAckRecovery runs a loss and its recovery through each loss
// recovery a round at a time: ten segments sent, the first lost, the peer
// SACKs the other nine one ACK each (duplicate ACKs without SACK for
// NewReno) and recovery starts (under RACK, once its reordering timer
// fires), the retransmission is sent and the cumulative ACK of all ends
// recovery. Every call of the interface on the ACK path is in it: it
// must show 0 allocs/op.
func BenchmarkAckRecovery(b *testing.B) {
	for _, alg := range []string{"NewReno", "SACK", "RACK"} {
		b.Run(alg, func(b *testing.B) {
			c := recoveryCore(b, alg)
			buf := make([]byte, 10*c.mss)
			now := t0
			round := func() {
				una := c.sndUna
				// Each round alike, whatever the last left: ten
				// segments in flight, a new window of data (RFC 6582
				// section 3.2 step 2).
				c.cwnd, c.recover = 10*c.mss, una.Sub(1)
				c.write(now, buf)
				now = now.Add(30 * time.Millisecond)
				a := segment{seq: c.rcvNxt, ack: una, flags: FlagACK, wnd: 65535,
					opts: SegmentOptions{HasTimestamps: c.tsOn, TSVal: peerTS, TSEcr: c.tsNow(now)}}
				for i := 2; i <= 10; i++ {
					if c.sackOn {
						a.opts.SACK[0] = blk(una.Add(seqnum.Size(c.mss)), una.Add(seqnum.Size(i*c.mss)))
						a.opts.NumSACK = 1
					}
					c.handleSegment(now, &a)
				}
				if !c.inRecovery && c.rack.at != 0 {
					// RACK saw reordering (the retransmission of the
					// last round was delivered below RACK.fack): its
					// reordering timer finds the loss.
					now = c.due(c.rack.at)
					c.handleTimer(now)
				}
				if !c.inRecovery {
					b.Fatalf("no recovery: una %d max %d nxt %d recover %d dupacks %d cwnd %d flight %d", c.sndUna, c.sndMax, c.sndNxt, c.recover, c.dupAcks, c.cwnd, c.inFlight())
				}
				a.opts.NumSACK = 0
				for k := 0; c.sndUna != c.sndMax || c.snd.n > 0; k++ {
					if k == 20 {
						b.Fatalf("not all acknowledged: una %d max %d", c.sndUna, c.sndMax)
					}
					now = now.Add(30 * time.Millisecond)
					a.ack, a.opts.TSEcr = c.sndMax, c.tsNow(now)
					c.handleSegment(now, &a)
				}
				if c.inRecovery {
					b.Fatal("recovery did not end")
				}
				c.out = c.out[:0]
			}
			round() // grows the scoreboard, the records and the queue
			b.ReportAllocs()
			for b.Loop() {
				round()
			}
		})
	}
}
