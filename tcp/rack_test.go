package tcp

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// TestRACKReoWnd checks RFC 8985 section 6.2 step 4's reordering window
// arithmetic.
func TestRACKReoWnd(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		name                 string
		minRTT, srtt         time.Duration
		mult                 int
		reordering, recovery bool
		sacked               int
		want                 time.Duration
	}{
		{"min_RTT/4 initially", 40 * ms, 100 * ms, 1, false, false, 0, 10 * ms},
		{"multiplier 0 counts as 1", 40 * ms, 100 * ms, 0, false, false, 0, 10 * ms},
		{"no reordering seen, in recovery: 0", 40 * ms, 100 * ms, 1, false, true, 0, 0},
		{"no reordering seen, DupThresh segments SACKed: 0", 40 * ms, 100 * ms, 1, false, false, dupThresh, 0},
		{"reordering seen keeps the window in recovery", 40 * ms, 100 * ms, 1, true, true, 5, 10 * ms},
		{"D-SACK rounds multiply it", 40 * ms, 100 * ms, 3, true, false, 0, 30 * ms},
		{"bounded by SRTT", 40 * ms, 100 * ms, 20, true, false, 0, 100 * ms},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := reoWnd(tt.minRTT, tt.srtt, tt.mult, tt.reordering, tt.recovery, tt.sacked); got != tt.want {
				t.Errorf("reo_wnd = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRACKReoWndDSACKRounds checks RFC 8985 section 6.2 step 4's D-SACK
// adaptation: one increment per round (up to SND.NXT) that sees a
// D-SACK, reset to 1 after 16 recoveries without one.
func TestRACKReoWndDSACKRounds(t *testing.T) {
	c := tsCore(t)
	r := &c.rack
	c.sndUna, c.sndNxt = 1000, 5000
	steps := []struct {
		name        string
		una         seqnum.Value
		dsack, end  bool
		wantMult    int
		wantPersist int
	}{
		{"first D-SACK starts a round", 1000, true, false, 2, 16},
		{"second D-SACK in the same round", 2000, true, false, 2, 16},
		{"round over: a D-SACK grows it again", 5000, true, false, 3, 16},
		{"recovery without D-SACK", 6000, false, true, 3, 15},
	}
	for _, s := range steps {
		c.sndUna = s.una
		if s.una == 5000 {
			c.sndNxt = 9000
		}
		c.rackUpdateReoWnd(s.dsack, s.end)
		if int(r.mult) != s.wantMult || int(r.persist) != s.wantPersist {
			t.Fatalf("%s: mult %d persist %d, want %d %d", s.name, r.mult, r.persist, s.wantMult, s.wantPersist)
		}
	}
	for range 15 {
		c.rackUpdateReoWnd(false, true)
	}
	if r.mult != 1 {
		t.Errorf("after 16 recoveries without D-SACK mult = %d, want 1", r.mult)
	}
}

// rackSendTimes returns a RACK core that sent one segment at each of
// the offsets from t0 (in milliseconds).
func rackSendTimes(t *testing.T, offs []int) *core {
	t.Helper()
	c := tsCore(t)
	c.cwnd = 20 * c.mss
	for _, o := range offs {
		c.write(t0.Add(time.Duration(o)*time.Millisecond), make([]byte, c.mss))
	}
	if out := takeOut(c); len(out) != len(offs) {
		t.Fatalf("sent %d segments, want %d", len(out), len(offs))
	}
	return c
}

// sackOf returns a duplicate ACK of SND.UNA SACKing the given segments
// (each a block) of a flight of MSS-sized segments.
func sackOf(c *core, segs ...int) *segment {
	una := testISS + 1
	m := seqnum.Size(c.mss)
	s := &segment{seq: peerISS + 1, ack: una, flags: FlagACK, wnd: 65535,
		opts: SegmentOptions{HasTimestamps: true, TSVal: peerTS, NumSACK: len(segs)}}
	for i, k := range segs {
		s.opts.SACK[i] = blk(una.Add(m*seqnum.Size(k)), una.Add(m*seqnum.Size(k+1)))
	}
	return s
}

// lostSegs lists which records RACK marked lost (retransmitted since, or
// still waiting).
func lostSegs(c *core) []int {
	var l []int
	for i := range c.rack.n {
		if c.rack.rec(i).flags&(rsLost|rsRetrans) != 0 {
			l = append(l, i)
		}
	}
	return l
}

// TestRACKDetectLoss checks RACK_detect_loss (RFC 8985 section 6.2 step
// 5): segments sent before the newest delivered one by more than
// RACK.rtt + reo_wnd ago are lost; the others wait for the reordering
// timer. Segments go out at 0, 20, 40, 75 and 80ms; SRTT (10ms from the
// handshake) bounds reo_wnd to 10ms.
func TestRACKDetectLoss(t *testing.T) {
	send := []int{0, 20, 40, 75, 80}
	for _, tt := range []struct {
		name    string
		sacked  []int
		at      int // ms
		lost    []int
		timerAt int // ms, 0: not armed
	}{
		{"sent more than reo_wnd before RACK.xmit_ts: lost; within it: timer", []int{4}, 180, []int{0, 1, 2}, 185},
		{"only segments sent before the delivered one", []int{1}, 120, []int{0}, 0},
		{"a delivered segment is never lost", []int{1, 3}, 175, []int{0, 2}, 0},
		{"DupThresh segments SACKed, no reordering seen: reo_wnd 0", []int{1, 2, 4}, 180, []int{0, 3}, 0},
		{"nothing sent before the delivered one: nothing lost", []int{0}, 100, nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := rackSendTimes(t, send)
			now := t0.Add(time.Duration(tt.at) * time.Millisecond)
			c.handleSegment(now, sackOf(c, tt.sacked...))
			got := lostSegs(c)
			if len(got) != len(tt.lost) {
				t.Fatalf("lost %v, want %v", got, tt.lost)
			}
			for i := range got {
				if got[i] != tt.lost[i] {
					t.Fatalf("lost %v, want %v", got, tt.lost)
				}
			}
			var wantAt time.Time
			if tt.timerAt > 0 {
				wantAt = t0.Add(time.Duration(tt.timerAt) * time.Millisecond)
			}
			if !c.due(c.rack.at).Equal(wantAt) {
				t.Errorf("reordering timer at %v, want %v", c.due(c.rack.at).Sub(t0), wantAt.Sub(t0))
			}
			if c.inRecovery != (len(tt.lost) > 0) {
				t.Errorf("in recovery %v with %d lost", c.inRecovery, len(tt.lost))
			}
			out := takeOut(c)
			if len(tt.lost) > 0 && (len(out) == 0 || out[0].seq != testISS+1) {
				t.Errorf("first lost segment not retransmitted: %+v", out)
			}
		})
	}
}

// TestRACKReorderingTimer checks RFC 8985 section 6.3: a segment not yet
// past the reordering window is marked lost when the timer fires, which
// starts recovery and retransmits it; before, nothing is retransmitted.
func TestRACKReorderingTimer(t *testing.T) {
	c := rackSendTimes(t, []int{0, 5})
	m := seqnum.Size(c.mss)
	c.handleSegment(t0.Add(100*time.Millisecond), sackOf(c, 1))
	// RACK.rtt 95ms, reo_wnd 10ms: segment 0 is lost at 0+95+10 = 105ms.
	want := t0.Add(105 * time.Millisecond)
	if !c.due(c.rack.at).Equal(want) || c.inRecovery {
		t.Fatalf("timer at %v recovery %v, want the timer at 105ms", c.due(c.rack.at).Sub(t0), c.inRecovery)
	}
	if out := takeOut(c); len(out) != 0 {
		t.Fatalf("retransmitted before the window passed: %+v", out)
	}
	if d := c.deadline(); !d.Equal(want) {
		t.Fatalf("deadline %v, want the reordering timer", d.Sub(t0))
	}
	c.handleTimer(want)
	out := takeOut(c)
	if !c.inRecovery || len(out) == 0 || out[0].seq != testISS+1 || out[0].dataLen != int(m) {
		t.Fatalf("timer: recovery %v, sent %+v", c.inRecovery, out)
	}
	if c.rack.rec(0).flags&(rsRetrans|rsLost) != rsRetrans || c.rack.lostB != 0 {
		t.Errorf("record after retransmission: flags %b, lost bytes %d", c.rack.rec(0).flags, c.rack.lostB)
	}
}

// TestRACKReorderingFewerRetransmits: under reordering deep enough to
// fool the duplicate ACK threshold (a segment held back behind five
// others) and no loss, RACK retransmits less than DupThresh detection.
//
// It runs in a synctest bubble: on the real clock a loaded machine
// (make test runs packages in parallel) stalled the sender long enough
// for a spurious RTO that retransmitted a whole window, and the
// comparison measured the scheduler, not the loss detection.
func TestRACKReorderingFewerRetransmits(t *testing.T) {
	synctest.Test(t, testRACKReorderingFewerRetransmits)
}

func testRACKReorderingFewerRetransmits(t *testing.T) {
	ab := linkFaults{seed: 5, reorder: 0.01, reorderDepth: 5, delay: time.Millisecond}
	ba := linkFaults{seed: 6, delay: time.Millisecond}
	rack := runBulk(t, Options{}, 4<<20, ab, ba)
	dup := runBulk(t, Options{LossDetection: LossDupAck}, 4<<20, ab, ba)
	t.Logf("RACK: %d retransmissions, %d fast retransmits; dupack: %d retransmissions, %d fast retransmits",
		rack.retransmits, rack.fastRtx, dup.retransmits, dup.fastRtx)
	if dup.retransmits == 0 {
		t.Fatal("the reordering fooled neither: the test tests nothing")
	}
	if rack.retransmits >= dup.retransmits {
		t.Errorf("RACK retransmitted %d, dupack detection %d", rack.retransmits, dup.retransmits)
	}
}

// TestRACKLoss: with real loss both ways, RACK finds it (fast
// retransmits, not only timeouts) and the transfer completes byte-exact.
// In a synctest bubble over a 1 ms delay line, as
// TestRACKReorderingFewerRetransmits: on the real clock a loaded machine's
// stalls turn losses into timeouts.
func TestRACKLoss(t *testing.T) { synctest.Test(t, testRACKLoss) }

func testRACKLoss(t *testing.T) {
	for _, seed := range []uint64{21, 22, 23} {
		r := runBulk(t, Options{}, 1<<20, linkFaults{seed: seed, loss: 0.02, delay: time.Millisecond},
			linkFaults{seed: seed + 100, loss: 0.02, delay: time.Millisecond})
		t.Logf("seed %d: %d retransmissions, %d fast retransmits, %d RTOs, %d TLPs", seed, r.retransmits, r.fastRtx, r.rtos, r.tlpProbes)
		if r.fastRtx == 0 {
			t.Errorf("seed %d: no loss found by RACK (%d RTOs)", seed, r.rtos)
		}
	}
}

// TestRACKTailLossProbe checks RACK-TLP together (RFC 8985 sections 6
// and 7): the last two segments of a flight are lost; the probe resends
// the last, its SACK makes RACK mark the other lost, and fast recovery
// resends it, with no retransmission timeout.
func TestRACKTailLossProbe(t *testing.T) {
	c := tsCore(t)
	c.cwnd = 10 * c.mss
	m := seqnum.Size(c.mss)
	una := testISS + 1
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	c.write(at(20), make([]byte, 5*c.mss))
	takeOut(c)
	c.handleSegment(at(30), &segment{seq: peerISS + 1, ack: una.Add(3 * m), flags: FlagACK, wnd: 65535,
		opts: SegmentOptions{HasTimestamps: true, TSVal: peerTS}})
	takeOut(c)
	pto := c.due(c.tlp.at)
	if pto.IsZero() || !c.due(c.rtxAt).After(pto) {
		t.Fatalf("probe at %v, RTO at %v", pto.Sub(t0), c.due(c.rtxAt).Sub(t0))
	}
	c.handleTimer(pto)
	out := takeOut(c)
	if len(out) != 1 || out[0].seq != una.Add(4*m) || c.ctr.tlpProbes.Load() != 1 {
		t.Fatalf("probe: %+v", out)
	}
	s := sackOf(c, 4)
	s.ack = una.Add(3 * m)
	c.handleSegment(pto.Add(10*time.Millisecond), s)
	out = takeOut(c)
	if !c.inRecovery || len(out) == 0 || out[0].seq != una.Add(3*m) {
		t.Fatalf("the segment before the probe not found lost: recovery %v, sent %+v (lost %v, timer %v)", c.inRecovery, out, lostSegs(c), c.due(c.rack.at).Sub(t0))
	}
	if c.ctr.rtoExpired.Load() != 0 {
		t.Error("a retransmission timeout")
	}
}

// TestProbeInRecoveryLostFinalACK is the probe timeout in fast recovery
// (RFC 9002 section 6.2's PTO, which RFC 8985 leaves to the RTO): segment
// 0 of ten is lost, 1 to 3 SACKed, RACK resends 0, and the one ACK that
// covers everything (a receiver coalescing its SACKs sends no other) is
// lost. The probe resends the last segment two round trips later; its
// ACK ends recovery, with no retransmission timeout and no more than one
// congestion response.
func TestProbeInRecoveryLostFinalACK(t *testing.T) {
	c, p, t1 := tenSent(t, 10, 3)
	if !c.inRecovery {
		t.Fatal("not in recovery")
	}
	out := takeOut(c)
	if len(out) == 0 || out[0].seq != p.seq(0) {
		t.Fatalf("segment 0 not resent: %+v", out)
	}
	for i := 4; i < 10; i++ {
		p.take(i)
	}
	p.take(0) // the ACK of everything, lost
	pto := c.due(c.tlp.at)
	if pto.IsZero() || !c.due(c.rtxAt).After(pto) {
		t.Fatalf("in recovery: probe at %v, RTO at %v", pto.Sub(t1), c.due(c.rtxAt).Sub(t1))
	}
	c.handleTimer(pto)
	out = takeOut(c)
	if len(out) != 1 || out[0].seq != p.seq(9) || c.ctr.tlpProbes.Load() != 1 || c.ctr.tlpInRecovery.Load() != 1 {
		t.Fatalf("probe: %+v, want segment 9 again", out)
	}
	ack := p.take(9)
	ack.opts.SACK[0], ack.opts.NumSACK = blk(p.seq(9), p.seq(10)), 1 // its D-SACK
	c.handleSegment(pto.Add(time.Millisecond), ack)
	if c.inRecovery || c.sndUna != c.sndMax || c.ctr.rtoExpired.Load() != 0 || c.ctr.tlpRecoveries.Load() != 0 {
		t.Errorf("after the probe's ACK: recovery %v, una %d of %d, RTOs %d, TLP loss responses %d",
			c.inRecovery, c.sndUna-p.base, c.sndMax-p.base, c.ctr.rtoExpired.Load(), c.ctr.tlpRecoveries.Load())
	}
}

// TestRACKReorderingNotSeenInOrder is RFC 8985 section 6.2 step 3:
// RACK.reordering_seen only when a segment is delivered below RACK.fack.
// In-order ACKs never set it, whatever half of the sequence space the
// connection's ISS lies in (RACK.fack started at zero, and an ISS of
// 2^31 or more compared the first ACK below it).
func TestRACKReorderingNotSeenInOrder(t *testing.T) {
	for _, iss := range []seqnum.Value{1000, 0x90000000, 0xfffffff0} {
		var cs stack.Counters
		c := new(core)
		c.init(testConfig(), newCounters(&cs), iss, testMSS, 0)
		c.connect(t0)
		syn := takeOut(c)
		c.handleSegment(t0.Add(10*time.Millisecond), &segment{seq: peerISS, ack: iss + 1, flags: FlagSYN | FlagACK, wnd: 65535,
			opts: SegmentOptions{HasMSS: true, MSS: testMSS, HasTimestamps: true, TSVal: peerTS, TSEcr: syn[0].tsVal, SACKPermitted: true}})
		takeOut(c)
		c.cwnd = 10 * c.mss
		p := newSegPeer(c, 4)
		c.write(t0.Add(20*time.Millisecond), make([]byte, 4*c.mss))
		takeOut(c)
		for i := range 4 {
			c.handleSegment(t0.Add(30*time.Millisecond), p.take(i))
		}
		if c.rack.reordering || c.sndUna != c.sndMax {
			t.Errorf("ISS %#x: reordering seen %v after in-order ACKs (una %d of %d)", uint32(iss), c.rack.reordering, c.sndUna-p.base, c.sndMax-p.base)
		}
	}
}
