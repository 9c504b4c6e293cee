package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// TestHyStartRTTThresh is RFC 9406's RttThresh = max(MIN_RTT_THRESH,
// min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH)).
func TestHyStartRTTThresh(t *testing.T) {
	for _, tc := range []struct{ last, want time.Duration }{
		{time.Millisecond, 4 * time.Millisecond},
		{20 * time.Millisecond, 4 * time.Millisecond},
		{80 * time.Millisecond, 10 * time.Millisecond},
		{200 * time.Millisecond, 16 * time.Millisecond},
	} {
		if got := rttThresh(tc.last); got != tc.want {
			t.Errorf("RttThresh(%v) = %v, want %v", tc.last, got, tc.want)
		}
	}
}

// hsRound is one round of a HyStart++ table test: the RTT samples of its
// first ACKs.
type hsRound struct {
	rtt     time.Duration
	samples int
}

// hsDriver runs CUBIC's slow start over rounds: a window-limited sender
// whose peer acknowledges every segment.
type hsDriver struct {
	w        ccWindow
	c        cubic
	una, nxt seqnum.Value
}

func newHSDriver() *hsDriver {
	d := &hsDriver{w: ccWindow{cfg: &config{base: t0.Add(-1)}, cwnd: 10 * 1000, ssthresh: initialSsthresh, mss: 1000}, una: 1000}
	d.nxt = d.una.Add(seqnum.Size(d.w.cwnd))
	return d
}

// round acknowledges, one segment per ACK, what was in flight when its
// first ACK came (the round's windowEnd), and returns the ACKs.
func (d *hsDriver) round(r hsRound) (acks int) {
	var end seqnum.Value
	for i := 0; i == 0 || d.una.Add(1000).LessThan(end); i++ {
		d.w.ccAck, d.w.ccNxt, d.w.ccRTT = d.una.Add(1000), d.nxt, 0
		if i < r.samples {
			d.w.ccRTT = r.rtt
		}
		if i == 0 {
			end = d.nxt
		}
		d.c.onAck(&d.w, t0, 1000, r.rtt)
		d.una = d.una.Add(1000)
		d.nxt = seqnum.Max(d.nxt, d.una.Add(seqnum.Size(d.w.cwnd)))
		acks++
	}
	return acks
}

// TestHyStartRounds checks RFC 9406 section 4.2 round by round: the RTT
// rise that moves slow start into Conservative Slow Start (CSS), the
// samples it needs, CSS's quarter growth, its end after CSS_ROUNDS
// rounds, and the return to slow start when the rise was spurious.
func TestHyStartRounds(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		rounds  []hsRound
		wantCSS []bool // in CSS after each round
		wantCA  bool   // slow start ended: ssthresh = cwnd
	}{
		{"steady RTT: slow start goes on", []hsRound{{20 * ms, 10}, {20 * ms, 10}, {20 * ms, 10}}, []bool{false, false, false}, false},
		{"a rise of RttThresh (4ms over 20ms) enters CSS", []hsRound{{20 * ms, 10}, {24 * ms, 10}}, []bool{false, true}, false},
		{"a rise below RttThresh does not", []hsRound{{20 * ms, 10}, {23 * ms, 10}}, []bool{false, false}, false},
		{"fewer than N_RTT_SAMPLE samples decide nothing", []hsRound{{20 * ms, 10}, {40 * ms, 7}}, []bool{false, false}, false},
		{"the first round has no last round to compare", []hsRound{{40 * ms, 10}}, []bool{false}, false},
		{"CSS_ROUNDS rounds of CSS end slow start", []hsRound{{20 * ms, 10}, {30 * ms, 10}, {30 * ms, 10}, {30 * ms, 10}, {30 * ms, 10}, {30 * ms, 10}, {30 * ms, 10}},
			[]bool{false, true, true, true, true, true, false}, true},
		{"an RTT below the CSS baseline resumes slow start", []hsRound{{20 * ms, 10}, {30 * ms, 10}, {21 * ms, 10}}, []bool{false, true, false}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newHSDriver()
			for i, r := range tt.rounds {
				before := d.w.cwnd
				css := d.c.hs.inCSS
				acks := d.round(r)
				grew := d.w.cwnd - before
				if d.c.hs.inCSS != tt.wantCSS[i] {
					t.Fatalf("round %d: in CSS %v, want %v", i, d.c.hs.inCSS, tt.wantCSS[i])
				}
				// Slow start grows by every byte acknowledged; a round
				// spent in CSS by a quarter (the first ACK may still
				// have been slow start's).
				if !css && !d.c.hs.inCSS && d.w.ssthresh == initialSsthresh && grew != acks*1000 {
					t.Errorf("round %d (slow start): cwnd grew %d for %d ACKs", i, grew, acks)
				}
				if css && d.c.hs.inCSS && grew > acks*1000/hsCSSGrowthDiv+1000 {
					t.Errorf("round %d (CSS): cwnd grew %d for %d ACKs, want about a quarter", i, grew, acks)
				}
			}
			if ca := d.w.ssthresh != initialSsthresh; ca != tt.wantCA || (ca && d.w.ssthresh > d.w.cwnd) {
				t.Errorf("ssthresh %d cwnd %d, want congestion avoidance %v", d.w.ssthresh, d.w.cwnd, tt.wantCA)
			}
		})
	}
}
