package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// bbrPath drives a bbrLite over a path of one round trip rtt that
// delivers at most bottleneck bytes per round trip: each round the
// window's worth is sent and acknowledged in two-segment ACKs.
type bbrPath struct {
	b          bbrLite
	w          ccWindow
	now        time.Time
	nxt        seqnum.Value
	rtt        time.Duration
	bottleneck int
}

func newBBRPath(bottleneck int) *bbrPath {
	const mss = 1000
	p := &bbrPath{w: ccWindow{cwnd: 10 * mss, ssthresh: 1 << 30, mss: mss}, now: t0, rtt: 10 * time.Millisecond, bottleneck: bottleneck}
	p.w.ccMinRTT = p.rtt
	return p
}

// round runs one round trip in which lost bytes of the window are lost.
// The ACKs come evenly over the round trip, and after each one the
// sender has a window in flight again (SND.NXT one window ahead).
func (p *bbrPath) round(lost int) {
	send := min(p.w.cwnd, p.bottleneck)
	p.w.ccLost += lost
	start := p.now
	for done := 0; done < send-lost; {
		n := min(2*p.w.mss, send-lost-done)
		done += n
		p.nxt = p.nxt.Add(seqnum.Size(n))
		p.w.ccAck = p.nxt
		p.w.ccNxt = p.nxt.Add(seqnum.Size(min(p.w.cwnd, p.bottleneck)))
		p.w.ccDelivered += n
		p.now = start.Add(p.rtt * time.Duration(done) / time.Duration(send))
		p.b.onAck(&p.w, p.now, n, p.rtt)
	}
	p.nxt = p.nxt.Add(seqnum.Size(lost))
	p.now = start.Add(p.rtt)
}

// roundLostAtEnd runs a round whose last lost bytes are found lost (by
// RACK, an RTT later) after the rest was delivered, as when a burst
// overflows a drop-tail queue.
func (p *bbrPath) roundLostAtEnd(lost int) {
	send := min(p.w.cwnd, p.bottleneck)
	start := p.now
	for done := 0; done < send-lost; {
		n := min(2*p.w.mss, send-lost-done)
		done += n
		p.nxt = p.nxt.Add(seqnum.Size(n))
		p.w.ccAck, p.w.ccNxt = p.nxt, p.nxt.Add(seqnum.Size(send))
		p.w.ccDelivered += n
		p.now = start.Add(p.rtt * time.Duration(done) / time.Duration(send))
		p.b.onAck(&p.w, p.now, n, p.rtt)
	}
	p.w.ccLost += lost
	p.b.onLoss(&p.w, p.now, send)
	p.nxt = p.nxt.Add(seqnum.Size(lost))
	p.now = start.Add(p.rtt)
}

// toRoundStart delivers two segments at a time until bbrlite starts a
// round (a lost segment, never delivered, shifts the rounds against the
// windows round sends), at most a window's worth.
func (p *bbrPath) toRoundStart() {
	at := p.b.deliveredAt
	for range p.w.cwnd / (2 * p.w.mss) {
		p.nxt = p.nxt.Add(seqnum.Size(2 * p.w.mss))
		p.w.ccAck, p.w.ccNxt, p.w.ccDelivered = p.nxt, p.nxt.Add(seqnum.Size(p.w.cwnd)), p.w.ccDelivered+2*p.w.mss
		p.b.onAck(&p.w, p.now, 2*p.w.mss, p.rtt)
		if p.b.deliveredAt != at {
			return
		}
	}
}

// TestBBRLiteRules checks bbrlite's model (BBR v1's, with v2's loss
// bound), one rule per row.
func TestBBRLiteRules(t *testing.T) {
	const mss = 1000
	t.Run("startup grows the window as slow start while the bandwidth grows", func(t *testing.T) {
		p := newBBRPath(1 << 30)
		for range 4 {
			p.round(0)
		}
		if p.b.filled || p.w.cwnd < 80*mss {
			t.Fatalf("after 4 rounds: cwnd %d segments, filled %v; want at least 80, still in startup", p.w.cwnd/mss, p.b.filled)
		}
	})
	t.Run("startup ends after three rounds without a quarter more bandwidth, at twice the BDP", func(t *testing.T) {
		p := newBBRPath(100 * mss)
		for range 12 {
			p.round(0)
		}
		if !p.b.filled {
			t.Fatal("still in startup with the bandwidth flat")
		}
		// bw = 100 segments per 10 ms; gain 2 (2.5 in a probing round).
		if want := 200 * mss; p.w.cwnd != want && p.w.cwnd != want*5/4 {
			t.Fatalf("cwnd %d segments, want 200 (or 250 probing)", p.w.cwnd/mss)
		}
	})
	t.Run("BBR v2: a loss in startup ends it, the window stepping back to 0.7", func(t *testing.T) {
		p := newBBRPath(1 << 30)
		for range 5 {
			p.round(0)
		}
		cwnd := p.w.cwnd
		p.w.ccLost += mss
		p.b.onLoss(&p.w, p.now, cwnd)
		if want := int(bbrBeta * float64(cwnd)); p.w.ssthresh != want || !p.b.filled {
			t.Fatalf("ssthresh %d, startup over %v; want %d, over", p.w.ssthresh, p.b.filled, want)
		}
	})
	t.Run("after startup a random loss keeps the window", func(t *testing.T) {
		p := newBBRPath(100 * mss)
		for range 12 {
			p.round(0)
		}
		cwnd := p.w.cwnd
		p.w.ccLost += mss
		p.b.onLoss(&p.w, p.now, cwnd)
		if p.w.ssthresh != cwnd {
			t.Fatalf("ssthresh %d after one loss, want the window %d", p.w.ssthresh, cwnd)
		}
	})
	t.Run("BBR v2 loss_thresh: a round losing over 2% bounds the window to 0.7 of it", func(t *testing.T) {
		p := newBBRPath(1 << 30)
		for range 4 {
			p.round(0)
		}
		cwnd := p.w.cwnd
		p.round(cwnd / 5) // 20% lost
		p.round(0)        // its end is seen
		if want := int(bbrBeta * float64(cwnd)); p.b.inflightHi != want || p.w.cwnd > want {
			t.Fatalf("inflightHi %d cwnd %d, want %d", p.b.inflightHi, p.w.cwnd, want)
		}
	})
	t.Run("BBR v2 full_loss_cnt: fewer than 8 segments lost in a round are no sign", func(t *testing.T) {
		p := newBBRPath(1 << 30)
		for range 2 {
			p.round(0)
		}
		p.round(5 * mss) // 5 of 40: 12%, but 5 segments
		p.round(0)
		if p.b.inflightHi != 0 {
			t.Fatalf("bounded to %d by 5 lost segments", p.b.inflightHi)
		}
	})
	t.Run("the bound is probed a quarter higher after a cycle without a lossy round", func(t *testing.T) {
		p := newBBRPath(1 << 30)
		for range 4 {
			p.round(0)
		}
		p.round(p.w.cwnd / 5)
		p.round(0)
		hi := p.b.inflightHi
		for range 2 * bbrCycle {
			p.round(0)
		}
		if p.b.inflightHi <= hi {
			t.Fatalf("inflightHi %d after two clean cycles, was %d", p.b.inflightHi, hi)
		}
	})
	t.Run("BBR v2 inflight_hi: a lossy round bounds the window at what it delivered, not below", func(t *testing.T) {
		// A burst into a drop-tail queue: most of a round arrives and
		// its tail is lost. The bound is what the path carried (v2's
		// tx_in_flight), not 0.7 of a window already cut once.
		p := newBBRPath(1 << 30)
		for range 4 {
			p.round(0)
		}
		p.round(p.w.cwnd / 5) // the first lossy round bounds the window
		p.round(0)
		p.toRoundStart()
		cwnd := p.w.cwnd
		lost := cwnd / 10
		p.roundLostAtEnd(lost)
		if want := cwnd - lost; p.b.inflightHi != want || want <= int(bbrBeta*float64(cwnd)) {
			t.Fatalf("inflightHi %d after a round delivering %d of a window of %d, want %d", p.b.inflightHi, cwnd-lost, cwnd, want)
		}
	})
	t.Run("the bandwidth is the best least-RTT stretch of a round, not the round's average", func(t *testing.T) {
		// 98 segments arrive over the least RTT (10 ms), the last two
		// 10 ms later: the round averages 5 MB/s, its data came at 9.8.
		var b bbrLite
		w := ccWindow{cwnd: 100 * mss, mss: mss, ccMinRTT: 10 * time.Millisecond}
		w.ccNxt = w.ccAck.Add(100 * mss)
		b.onAck(&w, t0, 0, 0) // the round starts
		for i := 1; i <= 49; i++ {
			w.ccAck, w.ccDelivered = w.ccAck.Add(2*mss), w.ccDelivered+2*mss
			b.onAck(&w, t0.Add(time.Duration(i)*10*time.Millisecond/49), 2*mss, 0)
		}
		w.ccAck, w.ccDelivered = w.ccAck.Add(2*mss), w.ccDelivered+2*mss
		b.onAck(&w, t0.Add(20*time.Millisecond), 2*mss, 0) // the round ends
		if bw := b.maxBW(); bw < 9.8e6 {
			t.Fatalf("bandwidth %.2f MB/s, want the 9.8 MB/s the data came at", bw/1e6)
		}
	})
	t.Run("BBR app-limited samples: rounds the application limits neither end startup, lower the bandwidth nor grow the window", func(t *testing.T) {
		p := newBBRPath(1 << 30)
		for range 3 {
			p.round(0)
		}
		bw, cwnd := p.b.maxBW(), p.w.cwnd
		p.bottleneck, p.w.ccAppLimited = 10*mss, true // the application writes 10 segments a round
		for range 2 * bbrBWRounds {
			p.round(0)
		}
		if p.b.filled || p.b.maxBW() < bw || p.w.cwnd != cwnd {
			t.Fatalf("after app-limited rounds: startup over %v, bandwidth %.0f (was %.0f), cwnd %d (was %d)", p.b.filled, p.b.maxBW(), bw, p.w.cwnd, cwnd)
		}
	})
	t.Run("one response per flight (RFC 6582): losses found later of data sent before a cut do not cut again", func(t *testing.T) {
		// A startup burst overflows a drop-tail queue; RACK finds its
		// losses over the rounds of recovery that follow.
		p := newBBRPath(1 << 30)
		for range 5 {
			p.round(0)
		}
		cwnd := p.w.cwnd
		p.w.ccLost += 20 * mss
		p.b.onLoss(&p.w, p.now, cwnd) // startup ends: 0.7 of the window
		want := p.w.ssthresh
		// The flight is SACKed past the holes (the round ends), and
		// another 20 of its segments are found lost: the cumulative
		// ACK is still below the flight's end.
		p.now = p.now.Add(p.rtt)
		p.w.ccSacked = cwnd
		p.b.onRecoveryAck(&p.w, p.now)
		p.w.ccLost += 20 * mss
		p.b.onRecoveryAck(&p.w, p.now)
		if p.w.ssthresh != want || p.b.inflightHi != 0 {
			t.Fatalf("ssthresh %d segments, inflightHi %d: cut again for the flight the first cut answered; want %d, no bound", p.w.ssthresh/mss, p.b.inflightHi/mss, want/mss)
		}
		// Once the cumulative ACK passes the flight, a lossy round of
		// data sent since does cut.
		p.w.ccAck, p.w.ccSacked = p.w.ccNxt, 0
		p.w.ccDelivered += cwnd
		p.w.ccNxt = p.w.ccAck.Add(seqnum.Size(want))
		p.now = p.now.Add(p.rtt)
		p.b.onRecoveryAck(&p.w, p.now)
		p.w.ccLost += 20 * mss
		p.b.onRecoveryAck(&p.w, p.now)
		if p.w.ssthresh >= want {
			t.Fatalf("ssthresh %d segments after a lossy round of new data, want below %d", p.w.ssthresh/mss, want/mss)
		}
	})
	t.Run("a timeout's flight, found lost, does not bound the window to the segment it restarts from", func(t *testing.T) {
		p := newBBRPath(1 << 30)
		for range 5 {
			p.round(0) // a timeout in startup
		}
		flight := p.w.cwnd
		p.w.ccNxt = p.w.ccAck.Add(seqnum.Size(flight))
		p.w.ccLost += flight / 10 // RACK's marks at the timeout
		p.b.onTimeout(&p.w, p.now, flight)
		p.w.cwnd = mss // the core restarts from one segment
		// Go-back-N retransmits the flight, round by round (SND.NXT
		// a window past the ACK), while RACK finds more of the old
		// flight lost.
		for range 5 {
			p.w.ccLost += flight / 10
			p.now = p.now.Add(p.rtt)
			n := p.w.cwnd
			p.w.ccAck, p.w.ccDelivered = p.w.ccAck.Add(seqnum.Size(n)), p.w.ccDelivered+n
			p.w.ccNxt = p.w.ccAck.Add(seqnum.Size(2 * n))
			p.b.onAck(&p.w, p.now, n, p.rtt)
		}
		if hi := p.b.inflightHi; hi != 0 && hi < flight/2 {
			t.Fatalf("inflightHi %d segments after the timeout of a %d-segment flight", hi/mss, flight/mss)
		}
	})
	t.Run("in recovery a lossy round lowers ssthresh, where PRR takes the window", func(t *testing.T) {
		p := newBBRPath(100 * mss)
		for range 12 {
			p.round(0)
		}
		cwnd := p.w.cwnd
		p.b.onLoss(&p.w, p.now, cwnd) // one loss: the window stays
		p.w.ccLost += 8 * mss         // then 8 in a round that delivered nothing yet
		p.b.onRecoveryAck(&p.w, p.now)
		if want := int(bbrBeta * float64(cwnd)); p.w.ssthresh != want {
			t.Fatalf("ssthresh %d, want %d", p.w.ssthresh, want)
		}
	})
}
