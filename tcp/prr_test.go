package tcp

import (
	"testing"
	"time"
)

// TestPRRArithmetic checks RFC 6937 section 3's rules one ACK at a time,
// in bytes with a 1000-byte MSS. After each ACK the sender sends whole
// segments while sndcnt allows, as sackRecover does.
func TestPRRArithmetic(t *testing.T) {
	const mss = 1000
	tests := []struct {
		name                string
		recoverFS, ssthresh int
		pipe                []int // pipe at each ACK
		delivered           []int // DeliveredData of each ACK
		want                []int // segments sent after each ACK
	}{
		{
			// Appendix A: RecoverFS 20, ssthresh 10: one segment for
			// every second segment delivered.
			name: "proportional part: ssthresh/RecoverFS of what is delivered", recoverFS: 20 * mss, ssthresh: 10 * mss,
			pipe:      []int{19 * mss, 18 * mss, 18 * mss, 17 * mss, 17 * mss, 16 * mss},
			delivered: []int{mss, mss, mss, mss, mss, mss},
			want:      []int{0, 1, 0, 1, 0, 1},
		},
		{
			name: "proportional part rounds up (CEIL)", recoverFS: 3 * mss, ssthresh: 2 * mss,
			pipe:      []int{3 * mss},
			delivered: []int{mss},
			want:      []int{0}, // ceil(1000*2000/3000) = 667 bytes: less than a segment
		},
		{
			name: "PRR-SSRB: pipe below ssthresh grows by what is delivered plus one MSS", recoverFS: 20 * mss, ssthresh: 10 * mss,
			pipe:      []int{4 * mss},
			delivered: []int{2 * mss},
			want:      []int{3}, // MAX(prr_delivered - prr_out, DeliveredData) + MSS
		},
		{
			name: "PRR-SSRB: never beyond ssthresh", recoverFS: 20 * mss, ssthresh: 10 * mss,
			pipe:      []int{9 * mss},
			delivered: []int{5 * mss},
			want:      []int{1}, // ssthresh - pipe
		},
		{
			name: "an ACK that delivers nothing sends nothing", recoverFS: 20 * mss, ssthresh: 10 * mss,
			pipe:      []int{19 * mss, 19 * mss},
			delivered: []int{0, 0},
			want:      []int{0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p prrState
			p.start(tt.recoverFS, 0)
			for i := range tt.pipe {
				n := p.sndcnt(tt.delivered[i], tt.pipe[i], tt.ssthresh, mss)
				sent := n / mss
				p.out += sent * mss
				if sent != tt.want[i] {
					t.Errorf("ACK %d: sndcnt %d bytes sends %d segments, want %d (prr_delivered %d, prr_out %d)", i, n, sent, tt.want[i], p.delivered, p.out)
				}
			}
		})
	}
}

// TestPRRConvergesToSsthresh is RFC 6937's aim: over a recovery in which
// the whole RecoverFS is delivered, the sender sends ssthresh, so the
// window ends at ssthresh with no burst and no stall.
func TestPRRConvergesToSsthresh(t *testing.T) {
	const mss = 1000
	for _, tc := range []struct{ recoverFS, ssthresh int }{{20, 10}, {10, 7}, {31, 15}} {
		var p prrState
		p.start(tc.recoverFS*mss, 0)
		pipe := tc.recoverFS * mss
		for range tc.recoverFS {
			pipe -= mss // one segment delivered
			n := p.sndcnt(mss, pipe, tc.ssthresh*mss, mss) / mss * mss
			p.out += n
			pipe += n
		}
		if p.out != tc.ssthresh*mss || pipe != tc.ssthresh*mss {
			t.Errorf("RecoverFS %d ssthresh %d: sent %d, pipe %d at the end, want %d", tc.recoverFS, tc.ssthresh, p.out, pipe, tc.ssthresh*mss)
		}
	}
}

// TestPRRRecoveryEndsAtSsthresh is RFC 6937 section 3.1's end of
// recovery (Linux's tcp_end_cwnd_reduction): the ACK that ends a SACK
// recovery sets cwnd to ssthresh even when it leaves nothing in flight,
// so the sender goes on at ssthresh instead of restarting from one
// segment (which a delayed ACK would then hold back).
func TestPRRRecoveryEndsAtSsthresh(t *testing.T) {
	c, p, t1 := tenSent(t, 10, 9)
	if !c.inRecovery {
		t.Fatal("no recovery")
	}
	takeOut(c)
	c.handleSegment(t1.Add(30*time.Millisecond), p.take(0))
	if c.inRecovery || c.sndUna != c.sndMax {
		t.Fatalf("recovery %v, una %d max %d", c.inRecovery, c.sndUna, c.sndMax)
	}
	if c.cwnd != c.ssthresh {
		t.Errorf("cwnd %d after recovery, want ssthresh %d", c.cwnd, c.ssthresh)
	}
}
