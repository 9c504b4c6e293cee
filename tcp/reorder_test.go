package tcp

import (
	"testing"
	"testing/synctest"
	"time"
)

// TestReorderingUndone is issue 17's acceptance 2: reordering without
// loss, deep enough that the sender takes it for loss (a segment held
// back behind five others), ends with every congestion response undone:
// the D-SACKs (RFC 3708) or timestamps (RFC 3522) show each fast
// retransmission spurious, tcp.undo.* counts them, and the slow-start
// threshold ends where it began. In a synctest
// bubble over a 1 ms delay line: on the real clock a loaded machine's
// stalls can decide what a test of counts sees.
func TestReorderingUndone(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"sack+timestamps", Options{LossDetection: LossDupAck}},
		{"sack, no timestamps", Options{DisableTimestamps: true, LossDetection: LossDupAck}},
	} {
		t.Run(tc.name, func(t *testing.T) { synctest.Test(t, func(t *testing.T) { testReorderingUndone(t, tc.opts) }) })
	}
}

func testReorderingUndone(t *testing.T, opts Options) {
	r := runBulk(t, opts, 4<<20, linkFaults{seed: 5, reorder: 0.01, reorderDepth: 5, delay: time.Millisecond, settle: 10 * time.Millisecond},
		linkFaults{seed: 6, delay: time.Millisecond})
	undos := r.undoEifel + r.undoDsack + r.undoRTO
	t.Logf("%d fast retransmits (%d SACK recoveries), %d retransmissions, %d RTOs; undone: %d eifel, %d dsack, %d rto; %d joined",
		r.fastRtx, r.sackRecover, r.retransmits, r.rtos, r.undoEifel, r.undoDsack, r.undoRTO, r.undoJoined)
	if r.fastRtx == 0 {
		t.Fatal("the reordering never looked like a loss: the test tests nothing")
	}
	if undos == 0 {
		t.Errorf("%d spurious fast retransmits, none undone", r.fastRtx)
	}
	// No reduction stayed: the slow-start threshold ends where it
	// began, as if the reordering had never looked like a loss. With
	// timestamps Eifel undoes each response at its first ACK. Without
	// them the D-SACKs decide: a response that begins while the one
	// before still waits for them joins its record (tcp.undo.joined),
	// and A stays open (settle) until the last episode's are in.
	if r.ssthresh != initialSsthresh {
		t.Errorf("ssthresh %d segments at the end: a congestion response to the reordering stayed", r.ssthresh/r.mss)
	}
}
