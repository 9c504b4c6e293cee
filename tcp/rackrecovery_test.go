package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// segPeer is a receiver of MSS-sized segments numbered from SND.UNA at
// its creation: it answers each segment it takes with an ACK carrying
// the cumulative point and up to three SACK blocks, the block of that
// segment first (RFC 2018 section 4), as a Linux receiver does.
type segPeer struct {
	c    *core
	base seqnum.Value
	got  []bool
}

func newSegPeer(c *core, n int) *segPeer {
	return &segPeer{c: c, base: c.sndUna, got: make([]bool, n)}
}

// index returns the segment number of sequence number s.
func (p *segPeer) index(s seqnum.Value) int { return int(p.base.Size(s)) / p.c.mss }

// seq returns the first sequence number of segment i.
func (p *segPeer) seq(i int) seqnum.Value { return p.base.Add(seqnum.Size(i * p.c.mss)) }

// take receives segment i and returns the ACK the peer sends for it.
func (p *segPeer) take(i int) *segment {
	p.got[i] = true
	una := 0
	for una < len(p.got) && p.got[una] {
		una++
	}
	s := &segment{seq: peerISS + 1, ack: p.seq(una), flags: FlagACK, wnd: 65535,
		opts: SegmentOptions{HasTimestamps: true, TSVal: peerTS}}
	block := func(j int) (int, int) {
		a, b := j, j
		for a > 0 && p.got[a-1] {
			a--
		}
		for b < len(p.got) && p.got[b] {
			b++
		}
		return a, b
	}
	add := func(a, b int) {
		if s.opts.NumSACK < 3 && a > una {
			for _, x := range s.opts.SACK[:s.opts.NumSACK] {
				if x.Left == uint32(p.seq(a)) {
					return
				}
			}
			s.opts.SACK[s.opts.NumSACK] = blk(p.seq(a), p.seq(b))
			s.opts.NumSACK++
		}
	}
	add(block(i))
	for j := una; j < len(p.got); j++ {
		if p.got[j] && (j == 0 || !p.got[j-1]) {
			add(block(j))
		}
	}
	return s
}

// tenSent returns a core (window 20 segments) that sent ten segments at
// t0 to a peer of n segments that received segments 1 to last at t1, 30ms
// later.
func tenSent(t *testing.T, n, last int) (*core, *segPeer, time.Time) {
	t.Helper()
	c := tsCore(t)
	c.cwnd = 20 * c.mss
	p := newSegPeer(c, n)
	c.write(t0, make([]byte, 10*c.mss))
	takeOut(c)
	t1 := t0.Add(30 * time.Millisecond)
	for i := 1; i <= last; i++ {
		c.handleSegment(t1, p.take(i))
	}
	return c, p, t1
}

// TestRACKRecoveryBeyondSACKBlocks is RFC 8985 with RFC 6675's pipe on a
// window with more holes than the SACK block list holds (maxSACKBlocks):
// every other segment of 160 is lost. The RACK records are the
// scoreboard, so recovery resends exactly the 80 lost segments, never one
// the peer SACKed, and ends without a retransmission timeout.
func TestRACKRecoveryBeyondSACKBlocks(t *testing.T) {
	const n = 160
	c := tsCore(t)
	c.sndShift = 6 // the peer's 65535 is a 4 MiB window
	c.sndWnd = 65535 << 6
	c.cwnd = 2 * n * c.mss
	p := newSegPeer(c, n)
	c.write(t0, make([]byte, n*c.mss))
	out := takeOut(c)
	if len(out) != n {
		t.Fatalf("sent %d segments, want %d", len(out), n)
	}
	now := t0.Add(30 * time.Millisecond)
	var acks []*segment
	for i := 1; i < n; i += 2 {
		acks = append(acks, p.take(i))
	}
	resent := map[int]int{}
	for round := 0; round < 50 && c.sndUna != c.sndMax; round++ {
		for _, a := range acks {
			c.handleSegment(now, a)
		}
		acks = acks[:0]
		if round == 0 && c.sackedBytes() != n/2*c.mss {
			t.Errorf("SACKed %d bytes after the first round, want %d (every other segment)", c.sackedBytes(), n/2*c.mss)
		}
		now = now.Add(30 * time.Millisecond)
		for _, o := range takeOut(c) {
			if o.dataLen == 0 {
				continue
			}
			i := p.index(o.seq)
			if p.got[i] {
				t.Errorf("resent segment %d, which the peer had SACKed", i)
			}
			resent[i]++
			acks = append(acks, p.take(i))
		}
		if len(acks) == 0 && c.sndUna != c.sndMax {
			c.handleTimer(c.deadline())
			now = c.deadline()
		}
	}
	if c.sndUna != c.sndMax {
		t.Fatalf("not all acknowledged: una %d max %d", c.sndUna, c.sndMax)
	}
	if len(resent) != n/2 {
		t.Errorf("resent %d distinct segments, want the %d lost", len(resent), n/2)
	}
	for i, k := range resent {
		if k != 1 {
			t.Errorf("segment %d resent %d times", i, k)
		}
	}
	if c.ctr.rtoExpired.Load() != 0 {
		t.Errorf("%d retransmission timeouts", c.ctr.rtoExpired.Load())
	}
}

// TestRACKLostRetransmission is RFC 8985 section 6.2: a retransmission
// that is lost too is found by RACK when data sent after it is delivered,
// and sent again at once, without waiting for the retransmission timer
// (RFC 6675 alone would not resend below HighRxt before it).
func TestRACKLostRetransmission(t *testing.T) {
	c, p, t1 := tenSent(t, 14, 6)
	// Recovery: segment 0 is resent; new data (from segment 10) goes out
	// after it as PRR allows.
	c.write(t1, make([]byte, 4*c.mss))
	out := takeOut(c)
	if !c.inRecovery || len(out) == 0 || out[0].seq != p.seq(0) {
		t.Fatalf("no fast retransmit of segment 0: recovery %v, sent %+v", c.inRecovery, out)
	}
	var later []int
	for _, o := range out[1:] {
		later = append(later, p.index(o.seq))
	}
	if len(later) == 0 || later[len(later)-1] < 10 {
		t.Fatalf("no new data after the retransmission: %v", later)
	}
	// The retransmission is lost; segments 7 to 9 and what followed it
	// arrive, an RTT later.
	t2 := t1.Add(30 * time.Millisecond)
	for i := 7; i <= 9; i++ {
		c.handleSegment(t2, p.take(i))
	}
	takeOut(c)
	for _, i := range later {
		c.handleSegment(t2, p.take(i))
	}
	out = takeOut(c)
	if len(out) == 0 || out[0].seq != p.seq(0) {
		t.Fatalf("lost retransmission not resent when later data was delivered: sent %+v, lost %v", out, lostSegs(c))
	}
	if c.ctr.rtoExpired.Load() != 0 {
		t.Error("a retransmission timeout")
	}
}

// TestRACKRecoveryEndsWithLosses: a recovery whose own new data was lost
// ends (the cumulative ACK reaches its recovery point) with lost data
// beyond that point; a new recovery starts at once for it (a new
// congestion event, as Linux's tcp_time_to_recover sees lost_out)
// instead of leaving it to the retransmission timer.
func TestRACKRecoveryEndsWithLosses(t *testing.T) {
	c, p, t1 := tenSent(t, 14, 6)
	c.write(t1, make([]byte, 4*c.mss))
	out := takeOut(c)
	if !c.inRecovery || len(out) < 2 {
		t.Fatalf("recovery %v, sent %+v", c.inRecovery, out)
	}
	recover := c.recover
	firstNew := p.index(out[1].seq)
	// An RTT later segments 7 to 9 arrive and more new data goes out;
	// another RTT later the retransmission of 0 arrives, which ends the
	// recovery, then that new data, but not the first new segment: RACK
	// marks it lost outside recovery, at the recovery point.
	t2 := t1.Add(30 * time.Millisecond)
	for i := 7; i <= 9; i++ {
		c.handleSegment(t2, p.take(i))
	}
	out = takeOut(c)
	if len(out) == 0 {
		t.Fatal("no new data in the second round of recovery")
	}
	t3 := t2.Add(30 * time.Millisecond)
	c.handleSegment(t3, p.take(0))
	if c.sndUna != recover || c.inRecovery {
		t.Fatalf("una %d (recovery %v), want the recovery point %d and the recovery over", c.sndUna, c.inRecovery, recover)
	}
	takeOut(c)
	for _, o := range out {
		c.handleSegment(t3, p.take(p.index(o.seq)))
	}
	out = takeOut(c)
	if !c.inRecovery || c.ctr.fastRetransmits.Load() != 2 {
		t.Fatalf("no new recovery for the lost segment %d: recovery %v, fast retransmits %d", firstNew, c.inRecovery, c.ctr.fastRetransmits.Load())
	}
	if len(out) == 0 || out[0].seq != p.seq(firstNew) {
		t.Errorf("segment %d not resent: %+v", firstNew, out)
	}
}

// TestUndoRetransStamp is Linux's retrans_stamp for the Eifel test (RFC
// 3522): a response that begins while an earlier retransmission is
// outstanding compares echoes with that retransmission's timestamp; once
// every retransmission is acknowledged, with its own start.
func TestUndoRetransStamp(t *testing.T) {
	c := tsCore(t)
	c.cwnd = 20 * c.mss
	c.write(t0, make([]byte, 10*c.mss))
	takeOut(c)
	t1, t2 := t0.Add(30*time.Millisecond), t0.Add(60*time.Millisecond)
	c.undoRetransmitted(t1, c.sndUna, c.mss)
	c.undoArm(t2, false)
	if c.undo.retransTS != c.tsNow(t1) {
		t.Errorf("with a retransmission outstanding: Eifel against %d, want %d (its timestamp)", c.undo.retransTS, c.tsNow(t1))
	}
	c.handleSegment(t2, peerAck(c, c.sndUna.Add(seqnum.Size(c.mss)), c.tsNow(t1)))
	if c.rtxStamp.on {
		t.Fatal("retrans_stamp still set with every retransmission acknowledged")
	}
	c.undoArm(t2, false)
	if c.undo.retransTS != c.tsNow(t2) {
		t.Errorf("nothing retransmitted outstanding: Eifel against %d, want %d", c.undo.retransTS, c.tsNow(t2))
	}
}

// TestRACKAmbiguousEcho is RFC 8985 section 6.2 step 2: an ACK of a
// retransmitted segment whose timestamp echo is older than the
// retransmission acknowledges the original, so it does not advance
// RACK.xmit_ts (which would make everything sent before the
// retransmission look lost).
func TestRACKAmbiguousEcho(t *testing.T) {
	for _, tt := range []struct {
		name     string
		echo     func(c *core) uint32
		advances bool
	}{
		{"echo of the original: ambiguous", func(c *core) uint32 { return c.tsNow(t0) }, false},
		{"echo of the retransmission", func(c *core) uint32 { return c.tsNow(t0.Add(100 * time.Millisecond)) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := rackSendTimes(t, []int{0})
			t1 := t0.Add(100 * time.Millisecond)
			c.sendRange(t1, c.sndUna, c.mss)
			takeOut(c)
			before := c.rack.xmitTS
			c.handleSegment(t1.Add(time.Millisecond), peerAck(c, c.sndMax, tt.echo(c)))
			if got := c.rack.xmitTS != before; got != tt.advances {
				t.Errorf("RACK.xmit_ts advanced %v, want %v", got, tt.advances)
			}
		})
	}
}

// TestPacketsInFlightExcludesSACKed is Linux's tcp_packets_in_flight with
// the RACK records as the scoreboard: outside recovery the congestion
// window limits what was sent less what the peer SACKed, so a segment the
// peer holds frees its room in the window before RACK has decided the
// hole below it is lost (here: two SACKed segments, fewer than DupThresh,
// send two new ones, as RFC 3042's limited transmit would).
func TestPacketsInFlightExcludesSACKed(t *testing.T) {
	for _, tt := range []struct {
		name    string
		sacked  []int // segments of the first ten the peer receives
		wantNew int   // segments sent beyond the first ten
	}{
		{"nothing SACKed: the window is full", nil, 0},
		{"two SACKed, no loss marked yet: two new segments", []int{1, 2}, 2},
		{"one SACKed: one new segment", []int{5}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tsCore(t)
			c.cwnd = 10 * c.mss
			p := newSegPeer(c, 20)
			c.write(t0, make([]byte, 20*c.mss))
			if out := takeOut(c); len(out) != 10 {
				t.Fatalf("sent %d segments with a 10-segment window", len(out))
			}
			t1 := t0.Add(30 * time.Millisecond)
			for _, i := range tt.sacked {
				c.handleSegment(t1, p.take(i))
			}
			if c.inRecovery || c.rack.lostB != 0 {
				t.Fatalf("recovery %v, lost %v: the test wants the state before a loss is found", c.inRecovery, lostSegs(c))
			}
			got := 0
			for _, o := range takeOut(c) {
				if o.dataLen > 0 && p.index(o.seq) >= 10 {
					got++
				}
			}
			if got != tt.wantNew {
				t.Errorf("%d new segments after %d SACKed, want %d", got, len(tt.sacked), tt.wantNew)
			}
		})
	}
}
