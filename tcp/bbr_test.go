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
	t.Run("BBR v2: one loss in startup neither ends it nor cuts the window", func(t *testing.T) {
		// v2 leaves startup for loss only when a round's loss rate is
		// high (bbr2_check_loss_too_high_in_startup): a random loss
		// early in a connection left bbrlite's startup at a window of
		// 20 segments, from which the model grew a quarter per probe
		// cycle (16 MiB over loss=0.1%,delay=10ms took 1.36 s, 0.5
		// with other seeds).
		p := newBBRPath(1 << 30)
		for range 5 {
			p.round(0)
		}
		cwnd := p.w.cwnd
		p.w.ccLost += mss
		p.b.onLoss(&p.w, p.now, cwnd)
		if p.w.ssthresh != cwnd || p.b.filled {
			t.Fatalf("ssthresh %d, startup over %v; want %d, still in startup", p.w.ssthresh, p.b.filled, cwnd)
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
	t.Run("BBR v2 loss_thresh: a round losing over 2% ends startup and bounds the window to 0.7 of it", func(t *testing.T) {
		p := newBBRPath(1 << 30)
		for range 4 {
			p.round(0)
		}
		cwnd := p.w.cwnd
		p.round(cwnd / 5) // 20% lost
		p.round(0)        // its end is seen
		if want := int(bbrBeta * float64(cwnd)); p.b.inflightHi != want || p.w.cwnd > want || !p.b.filled {
			t.Fatalf("inflightHi %d cwnd %d, startup over %v; want %d, over", p.b.inflightHi, p.w.cwnd, p.b.filled, want)
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
	// burstRounds runs rounds of a 100 ms round trip in which the
	// window of 100 segments is acknowledged in ACKs of two segments,
	// each ACK sending two more (an ACK clock), the ACKs of a round
	// coming within spread (then the window leaves in a burst as
	// long); late holds the last ACK of the last round back by late.
	burstRounds := func(b *bbrLite, rounds int, spread, late time.Duration) {
		w := ccWindow{cwnd: 100 * mss, mss: mss, ccMinRTT: 100 * time.Millisecond}
		w.ccNxt = w.ccAck.Add(100 * mss)
		for r := range rounds {
			for i := range 50 {
				at := t0.Add(time.Duration(r)*100*time.Millisecond + spread*time.Duration(i)/50)
				if r == rounds-1 && i == 49 {
					at = at.Add(late)
				}
				w.ccAck, w.ccDelivered = w.ccAck.Add(2*mss), w.ccDelivered+2*mss
				b.onAck(&w, at, 2*mss, 0)
				w.ccNxt = w.ccNxt.Add(2 * mss)
			}
		}
	}
	t.Run("BBR rate samples: a window sent and acknowledged in bursts is a window per round trip, not two", func(t *testing.T) {
		// Samples over any least-RTT stretch of ACKs, from the first
		// ACK of one burst to the last of the next, read 1.9 MB/s, and
		// a round that starts with a burst ends with it (20 MB/s).
		var b bbrLite
		burstRounds(&b, 10, 5*time.Millisecond, 0)
		if bw := b.maxBW(); bw < 0.95e6 || bw > 1.1e6 {
			t.Fatalf("bandwidth %.2f MB/s, want the 1 MB/s (100 segments per 100 ms) the path carried", bw/1e6)
		}
	})
	t.Run("BBR rate samples: a round stretched by its last ACK keeps the rate its data came at", func(t *testing.T) {
		// ACKs spread over the round trip, then one round's last ACK
		// 100 ms late: the round averages half the rate.
		var b bbrLite
		burstRounds(&b, 3, 100*time.Millisecond, 100*time.Millisecond)
		if bw := b.maxBW(); bw < 0.95e6 {
			t.Fatalf("bandwidth %.2f MB/s, want the 1 MB/s the data came at", bw/1e6)
		}
	})
	t.Run("BBR's filter takes each ACK's sample: the pacing rate follows within the round", func(t *testing.T) {
		var b bbrLite
		burstRounds(&b, 2, 100*time.Millisecond, 0)
		before := b.maxBW()
		b.rateMax = 3 * before // a sample of this round, before it ends
		if got := b.pacingRate(nil); got < 3*before {
			t.Fatalf("pacing rate %.2f MB/s with a sample of %.2f in the round, want it taken", got/1e6, 3*before/1e6)
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
		p.b.onLoss(&p.w, p.now, cwnd) // a lossy round: startup ends, 0.7 of the window
		want, hi := p.w.ssthresh, p.b.inflightHi
		if !p.b.filled || want != int(bbrBeta*float64(cwnd)) {
			t.Fatalf("after 20 lost in a round: startup over %v, ssthresh %d; want over, %d", p.b.filled, want/mss, int(bbrBeta*float64(cwnd))/mss)
		}
		// The flight is SACKed past the holes (the round ends), and
		// another 20 of its segments are found lost: the cumulative
		// ACK is still below the flight's end.
		p.now = p.now.Add(p.rtt)
		p.w.ccSacked = cwnd
		p.b.onRecoveryAck(&p.w, p.now)
		p.w.ccLost += 20 * mss
		p.b.onRecoveryAck(&p.w, p.now)
		if p.w.ssthresh != want || p.b.inflightHi != hi {
			t.Fatalf("ssthresh %d segments, inflightHi %d: cut again for the flight the first cut answered; want %d, %d", p.w.ssthresh/mss, p.b.inflightHi/mss, want/mss, hi/mss)
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
