package tcp

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

func TestRetransmitBackoff(t *testing.T) {
	c := establishedCore(t)
	rto := c.rtt.rto
	c.write(t0, []byte("abc"))
	takeOut(c)
	if c.due(c.rtxAt) != t0.Add(rto) {
		t.Fatalf("rtx %v want %v", c.due(c.rtxAt), t0.Add(rto))
	}
	now := c.due(c.rtxAt)
	for i := 1; i <= 3; i++ {
		c.handleTimer(now)
		out := takeOut(c)
		wantSeg(t, out, 0, testISS+1, peerISS+1, FlagACK|FlagPSH, 3)
		want := rto << i
		if c.rtt.rto != want || c.due(c.rtxAt) != now.Add(want) {
			t.Fatalf("after timeout %d: rto %v rtxAt %v, want rto %v", i, c.rtt.rto, c.due(c.rtxAt).Sub(now), want)
		}
		if c.cwnd != c.mss {
			t.Errorf("cwnd %d after RTO", c.cwnd)
		}
		now = c.due(c.rtxAt)
	}
	if c.ctr.retransmits.Load() != 3 {
		t.Errorf("retransmits counter %d", c.ctr.retransmits.Load())
	}
}

func TestRetransmitGivesUp(t *testing.T) {
	c := establishedCore(t)
	c.cfg.maxRetries = 2
	c.write(t0, []byte("abc"))
	for range 3 {
		c.handleTimer(c.due(c.rtxAt))
	}
	if c.state != StateClosed || !errors.Is(c.err, syscall.ETIMEDOUT) {
		t.Fatalf("%v %v", c.state, c.err)
	}
}

func TestSynRetransmit(t *testing.T) {
	c := newTestCore(t)
	c.connect(t0)
	takeOut(c)
	c.handleTimer(t0.Add(time.Second))
	wantSeg(t, takeOut(c), 0, testISS, 0, FlagSYN, 0)
	if c.due(c.rtxAt) != t0.Add(3*time.Second) {
		t.Errorf("second SYN timeout at %v", c.due(c.rtxAt).Sub(t0))
	}
	// Karn: the SYN-ACK after a retransmitted SYN gives no RTT sample.
	c.handleSegment(t0.Add(1500*time.Millisecond), &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 100})
	if c.rtt.hasSample() {
		t.Error("RTT sampled from a retransmitted SYN")
	}
}

func TestKarn(t *testing.T) {
	c := establishedCore(t)
	c.rtt.init(time.Second)
	c.write(t0, []byte("abc"))
	takeOut(c)
	c.handleTimer(t0.Add(time.Second))
	takeOut(c)
	c.handleSegment(t0.Add(1100*time.Millisecond), ack(peerISS+1, testISS+4))
	if c.rtt.hasSample() {
		t.Fatal("RTT sampled from a retransmitted segment")
	}
	if c.rtt.rto != 2*time.Second {
		t.Errorf("backed-off RTO not kept: %v", c.rtt.rto)
	}
	// New data is timed again.
	now := t0.Add(2 * time.Second)
	c.write(now, []byte("def"))
	takeOut(c)
	c.handleSegment(now.Add(40*time.Millisecond), ack(peerISS+1, testISS+7))
	if !c.rtt.hasSample() || c.rtt.srtt != 40*time.Millisecond || c.rtt.rto != 200*time.Millisecond {
		t.Errorf("sample: %+v", c.rtt)
	}
}

func TestRTOEstimator(t *testing.T) {
	var r rttEstimator
	r.init(time.Second)
	r.sample(100*time.Millisecond, 200*time.Millisecond, 120*time.Second)
	if r.srtt != 100*time.Millisecond || r.rttvar != 50*time.Millisecond || r.rto != 300*time.Millisecond {
		t.Fatalf("first sample %+v", r)
	}
	r.sample(200*time.Millisecond, 200*time.Millisecond, 120*time.Second)
	// rttvar = 3/4*50 + 1/4*100 = 62.5; srtt = 7/8*100 + 1/8*200 = 112.5
	if r.rttvar != 62500*time.Microsecond || r.srtt != 112500*time.Microsecond || r.rto != 362500*time.Microsecond {
		t.Fatalf("second sample %+v", r)
	}
	for range 40 {
		r.sample(time.Millisecond, 200*time.Millisecond, 120*time.Second)
	}
	if r.rto != 200*time.Millisecond {
		t.Errorf("min RTO not applied: %v", r.rto)
	}
	for range 20 {
		r.backoff(200*time.Millisecond, 120*time.Second)
	}
	if r.rto != 120*time.Second {
		t.Errorf("max RTO not applied: %v", r.rto)
	}
}

func TestFastRetransmit(t *testing.T) {
	c := establishedCore(t)
	c.write(t0, make([]byte, 5000))
	if out := takeOut(c); len(out) != 5 {
		t.Fatalf("sent %d segments", len(out))
	}
	// Segment 1 is lost; 2..4 each produce a duplicate ACK.
	for i := 0; i < 2; i++ {
		c.handleSegment(t0, ack(peerISS+1, testISS+1))
		if len(takeOut(c)) != 0 {
			t.Fatalf("retransmitted after %d dup ACKs", i+1)
		}
	}
	c.handleSegment(t0, ack(peerISS+1, testISS+1))
	out := takeOut(c)
	wantSeg(t, out, 0, testISS+1, peerISS+1, FlagACK|FlagPSH, 1000)
	if !c.inRecovery || c.ssthresh != 2500 || c.ctr.fastRetransmits.Load() != 1 {
		t.Fatalf("recovery %v ssthresh %d", c.inRecovery, c.ssthresh)
	}
	// A partial ACK (segment 3 was lost as well) retransmits the next hole.
	c.handleSegment(t0, ack(peerISS+1, testISS+2001))
	out = takeOut(c)
	wantSeg(t, out, 0, testISS+2001, peerISS+1, FlagACK|FlagPSH, 1000)
	// The full ACK ends recovery.
	c.handleSegment(t0, ack(peerISS+1, testISS+5001))
	if c.inRecovery || c.cwnd != 1000 && c.cwnd != 2500 {
		t.Errorf("after full ACK: recovery %v cwnd %d", c.inRecovery, c.cwnd)
	}
}
