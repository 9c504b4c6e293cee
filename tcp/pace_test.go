package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// fixedPacer paces at a fixed rate, in bytes per second.
type fixedPacer float64

func (r fixedPacer) pacingRate(*ccWindow) float64 { return float64(r) }

// sentBytes is the payload of the segments queued.
func sentBytes(c *core) int {
	n := 0
	for _, o := range takeOut(c) {
		n += o.dataLen
	}
	return n
}

// TestPacingRules checks the pacing of new data (pace.go): bursts of a
// millisecond's worth at the rate (Linux's tcp_tso_autosize, at least two
// segments), the next when the timer says the credit is earned again.
func TestPacingRules(t *testing.T) {
	tests := []struct {
		name      string
		rate      float64       // bytes per second; 0: no pacer
		minRTT    time.Duration // the least RTT seen
		cwnd      int           // segments
		wantFirst int           // bytes sent at once
		wantWait  time.Duration // the pacing timer, from now; 0: none
	}{
		{name: "a burst is a millisecond at the rate", rate: 8e6, minRTT: 50 * time.Millisecond, cwnd: 100, wantFirst: 8 * testMSS, wantWait: time.Millisecond},
		{name: "a burst is at least two segments", rate: 1e6, minRTT: 50 * time.Millisecond, cwnd: 100, wantFirst: 2 * testMSS, wantWait: 2 * time.Millisecond},
		{name: "the window limits first: no timer", rate: 8e6, minRTT: 50 * time.Millisecond, cwnd: 4, wantFirst: 4 * testMSS},
		{name: "a BDP within one burst (RTT of a millisecond) is not paced", rate: 8e6, minRTT: time.Millisecond, cwnd: 30, wantFirst: 30 * testMSS},
		{name: "no rate yet: the window alone", rate: 0, minRTT: 50 * time.Millisecond, cwnd: 30, wantFirst: 30 * testMSS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := establishedScaled(t, testConfig())
			c.pace.p = fixedPacer(tt.rate)
			c.cwnd, c.ccMinRTT = tt.cwnd*testMSS, tt.minRTT
			now := t0.Add(time.Second)
			c.noDelay = true
			c.write(now, make([]byte, 64*testMSS))
			c.output(now)
			if got := sentBytes(c); got != tt.wantFirst {
				t.Fatalf("sent %d bytes at once, want %d", got, tt.wantFirst)
			}
			if tt.wantWait == 0 {
				if c.pace.at != 0 {
					t.Fatalf("pacing timer set %v ahead, want none", c.due(c.pace.at).Sub(now))
				}
				return
			}
			if got := c.due(c.pace.at).Sub(now); got != tt.wantWait || c.deadline().After(c.due(c.pace.at)) {
				t.Fatalf("pacing timer %v ahead (deadline %v), want %v", got, c.deadline().Sub(now), tt.wantWait)
			}
			// Nothing more before the timer, a burst more when it fires.
			c.handleTimer(c.due(c.pace.at).Add(-time.Nanosecond))
			if got := sentBytes(c); got != 0 {
				t.Fatalf("sent %d bytes before the pacing timer", got)
			}
			c.handleTimer(c.due(c.pace.at))
			if got := sentBytes(c); got != tt.wantFirst {
				t.Fatalf("the pacing timer sent %d bytes, want a burst of %d", got, tt.wantFirst)
			}
		})
	}
}

// TestPacingLateTimer: a pacing timer that fires late (Go's poller sleeps
// in whole milliseconds when nothing else runs) costs the sender at most
// one burst of its rate: the credit holds two bursts, so a wake-up a
// millisecond late also sends the millisecond it missed, and one after a
// long pause still no more than two bursts.
func TestPacingLateTimer(t *testing.T) {
	c := establishedScaled(t, testConfig())
	c.pace.p = fixedPacer(8e6)
	c.cwnd, c.ccMinRTT = 100*testMSS, 50*time.Millisecond
	now := t0.Add(time.Second)
	c.noDelay = true
	c.write(now, make([]byte, 64*testMSS))
	c.output(now)
	burst := sentBytes(c)
	if burst != 8*testMSS || c.pace.at == 0 {
		t.Fatalf("first burst %d bytes, timer %v", burst, c.due(c.pace.at))
	}
	c.handleTimer(c.due(c.pace.at).Add(paceQuantum))
	if got := sentBytes(c); got != 2*burst {
		t.Fatalf("a timer a millisecond late sent %d bytes, want two bursts (%d)", got, 2*burst)
	}
	c.handleTimer(c.due(c.pace.at).Add(10 * paceQuantum))
	if got := sentBytes(c); got != 2*burst {
		t.Fatalf("a timer 10ms late sent %d bytes, want two bursts (%d)", got, 2*burst)
	}
}

// ackCounter is a pacing congestion control that counts the ACKs it
// sees and whether each said the sender was app-limited.
type ackCounter struct {
	fixedPacer
	acks, appLimited int
}

func (*ackCounter) name() string { return "ackcounter" }
func (a *ackCounter) onAck(w *ccWindow, _ time.Time, _ int, _ time.Duration) {
	a.acks++
	if w.ccAppLimited {
		a.appLimited++
	}
}
func (*ackCounter) onLoss(*ccWindow, time.Time, int)    {}
func (*ackCounter) onTimeout(*ccWindow, time.Time, int) {}

// TestPacedSenderSeesEveryACK: a congestion control that paces gets the
// ACKs that come while its pacing rate, not its window, limits the
// sender (else its model stops once it paces), told app-limited only
// when neither limited it.
func TestPacedSenderSeesEveryACK(t *testing.T) {
	c := establishedScaled(t, testConfig())
	ac := &ackCounter{fixedPacer: 1e6}
	c.ca, c.pace.p = ac, ac
	c.cwnd, c.ccMinRTT, c.noDelay = 100*testMSS, 50*time.Millisecond, true
	now := t0.Add(time.Second)
	c.write(now, make([]byte, 64*testMSS))
	c.output(now)
	if got := sentBytes(c); got != 2*testMSS || c.pace.at == 0 {
		t.Fatalf("sent %d bytes, pacing timer %v: want a 2-segment burst and the timer", got, c.due(c.pace.at))
	}
	now = now.Add(50 * time.Millisecond) // the path's round trip: pacing stays on
	c.handleSegment(now, ack(c.rcvNxt, c.sndUna.Add(testMSS)))
	if ac.acks != 1 || ac.appLimited != 0 {
		t.Fatalf("paced out with data waiting: %d ACKs seen (%d app-limited), want 1 (0)", ac.acks, ac.appLimited)
	}
	// Everything sent and acknowledged, nothing more to send: the
	// application limits the sender now.
	for range 100 {
		if c.sndUna == c.sndMax && c.unsent() == 0 {
			break
		}
		now = now.Add(2 * time.Millisecond)
		c.handleTimer(now) // a burst
		takeOut(c)
		now = now.Add(50 * time.Millisecond)
		c.handleSegment(now, ack(c.rcvNxt, c.sndMax))
	}
	if ac.appLimited == 0 {
		t.Fatalf("%d ACKs seen, none app-limited after the data ran out", ac.acks)
	}
}

// TestPacingInRecovery: SACK recovery's retransmissions leave at the
// pacing rate too, as Linux paces every segment: a drop-tail queue's
// losses, resent as their SACKs come back, would otherwise leave in a
// burst as long as the one that lost them. 20 of 40 segments are lost;
// with a window that lets them all go, they leave a burst's worth per
// pacing timer.
func TestPacingInRecovery(t *testing.T) {
	c := tsCore(t)
	now := pacedRecovery(t, c)
	_, burst := c.paceRate()
	// A window that lets the rest go (as PRR does with the next ACKs):
	// the pacing credit, not the window, decides when.
	c.cwnd, c.ccMinRTT = 60*c.mss, 50*time.Millisecond
	c.output(now)
	first := sentBytes(c)
	if first == 0 || first > 2*burst || c.pace.at == 0 {
		t.Fatalf("recovery sent %d bytes at once (timer %v), want at most two bursts (%d), then the pacing timer",
			first, c.due(c.pace.at), 2*burst)
	}
	total := first
	for range 40 {
		if c.pace.at == 0 {
			break
		}
		at := c.due(c.pace.at)
		c.handleTimer(at.Add(-time.Nanosecond))
		if n := sentBytes(c); n != 0 {
			t.Fatalf("sent %d bytes before the pacing timer", n)
		}
		c.handleTimer(at)
		n := sentBytes(c)
		if n > 2*burst {
			t.Fatalf("the pacing timer sent %d bytes, more than two bursts (%d)", n, 2*burst)
		}
		total += n
	}
	if total < 18*c.mss {
		t.Fatalf("recovery resent %d bytes in all, want the 18 lost segments left", total)
	}
}

// pacedRecovery sends 40 segments from a paced connection (bbrLite,
// which keeps most of its window, so PRR lets the recovery send; 4 MB/s,
// a burst of 4 KB, at least two segments; a 50 ms least RTT) and has
// the peer SACK the last 20: it returns when that ACK arrived, recovery
// begun and the fast retransmit taken.
func pacedRecovery(t *testing.T, c *core) time.Time {
	t.Helper()
	c.cwnd = 60 * c.mss
	for range 40 {
		c.write(t0, make([]byte, c.mss))
	}
	if n := len(takeOut(c)); n != 40 {
		t.Fatalf("sent %d segments, want 40", n)
	}
	c.ca = &bbrLite{}
	c.pace.p = fixedPacer(4e6)
	c.ccMinRTT = 50 * time.Millisecond
	una := testISS + 1
	ack := sackOf(c)
	ack.opts.NumSACK = 1
	ack.opts.SACK[0] = blk(una.Add(seqnum.Size(20*c.mss)), una.Add(seqnum.Size(40*c.mss)))
	now := t0.Add(100 * time.Millisecond)
	c.handleSegment(now, ack)
	if !c.inRecovery {
		t.Fatal("not in recovery with 20 segments lost")
	}
	takeOut(c) // the fast retransmit and what PRR let the entering ACK send
	return now
}

// TestPacingInRecoveryFullWindow: in recovery, a window with no room
// waits for ACKs, not for the pacing timer: no timer is armed to wake
// the sender for nothing, as outputPaced arms none when the window
// stopped it.
func TestPacingInRecoveryFullWindow(t *testing.T) {
	c := tsCore(t)
	now := pacedRecovery(t, c)
	c.cwnd = c.pipe() // full
	c.pace.credit, c.pace.last = 0, c.at(now)
	c.output(now)
	if n := sentBytes(c); n != 0 || c.pace.at != 0 {
		t.Fatalf("a full window sent %d bytes and set the pacing timer %v ahead, want nothing and no timer", n, c.due(c.pace.at).Sub(now))
	}
}
