package tcp

import (
	"slices"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// bbrLite is a model-based congestion control after BBR (Cardwell et
// al., "BBR: Congestion-Based Congestion Control", ACM Queue 2016;
// draft-cardwell-iccrg-bbr-congestion-control), without pacing: the
// window, not a pacing rate, carries the model. It estimates the
// bottleneck bandwidth as the largest delivery rate of the last
// bbrBWRounds round trips and the propagation delay as the least RTT, and
// keeps bbrCwndGain times their product in flight, one round trip in
// bbrCycle a quarter more to probe. A random loss, which says nothing
// about the bottleneck, does not cut the window (the recovery retransmits
// what was lost); a round trip that loses more than 2% of its data (and
// at least 8 segments) does, to 0.7 of it but not below what the round
// delivered, and bounds the window there until a clean probe cycle raises
// the bound (BBR v2's loss_thresh, beta and inflight_hi, which is never
// below the data in flight when the loss was sent): a queue that drops
// without delaying, as netem's
// limit does, shows the bottleneck by loss alone. Startup is slow start,
// left at such a lossy round (the window stepping back to 0.7, as BBR
// v2's startup does when its loss rate is too high, after which the
// model regrows it as fast as deliveries show room) or when three round
// trips in a row raised the bandwidth by less than a quarter; one random
// loss does not end it.
//
// On the loss=0.1%,delay=10ms path it moves 16 MiB in about
// 0.4 s of virtual time where CUBIC, cut by each random loss, takes
// 1.7 to 3.6 s (TestBBRLiteUnderRandomLoss).
//
// It paces (pace.go) at BBR's pacing gains times the bandwidth
// (pacingRate), new data and recovery's retransmissions, so that a window
// does not leave in one burst as ACKs come back. Its delivery rate
// samples are Linux's (sampleRate), and each ACK's feeds the filter at
// once. What it lacks against Linux's bbr: startup's drain and the
// probe-RTT phases (the window target follows the model at once, and the
// least RTT is the connection's), the long-term bandwidth of policers,
// and a rate sample per segment (one per send checkpoint, up to eight
// per least RTT).
// Its name is "bbrlite", to say so.
type bbrLite struct {
	bw [bbrBWRounds]float64 // delivery rate per round, bytes/s
	// got is what each round delivered: the window never goes below
	// the most of the filter's rounds (see onAck).
	got        [bbrBWRounds]int
	round      int // round trips counted
	roundStart time.Time
	// roundEnd is what must be delivered (bbrDelivered) for the round
	// to end: what was delivered when it started plus what was then
	// in flight. Counting SACKed bytes, a held-back segment does not
	// stretch the round (as a cumulative ACK would, and as Linux's
	// per-packet delivered count does not either).
	roundEnd int
	// deliveredAt and lostAt are what was delivered (bbrDelivered) and
	// lost (ccLost) when the round started.
	deliveredAt, lostAt int
	fullBW              float64 // bandwidth at the last growth of a quarter
	fullRounds          int     // rounds since
	filled              bool    // the pipe is full: startup is over
	// inflightHi bounds the window after a round lost more than
	// bbrLossThresh of what it delivered (BBR v2's inflight_hi): a queue
	// that drops without delaying (a netem limit) shows the bottleneck
	// by loss alone. 0: no bound yet.
	inflightHi int
	cut        bool // the round already cut inflightHi
	// cutSeq is SND.NXT at the last loss response (cutOn: there was
	// one: a cut, the end of startup, a timeout). Until the cumulative
	// ACK passes it the losses found are of data sent before that
	// response, which it answered: one response per flight, as RFC 5681
	// and 6582 reduce once per window of data (and BBR v2 weighs a lost
	// packet against what was in flight when it left). Without it a
	// startup burst lost into a drop-tail queue, found over rounds of
	// recovery, cut the bound by 0.7 in each, and the flight a timeout
	// declared lost bounded the window to four segments, 0.7 of the
	// one segment a timeout restarts from, for good (the bound grows a
	// quarter per probe cycle): 16 MiB over the simulation's delay=10ms
	// path took 5.4 s instead of 0.33.
	cutSeq seqnum.Value
	cutOn  bool
	// priorHi and priorFilled are inflightHi and filled before the last
	// loss response, which an undo (a spurious retransmission) restores.
	priorHi     int
	priorFilled bool
	probeOK     bool // no lossy round since the last probe
	// sends are checkpoints on the send side, at least an eighth of
	// the least RTT apart, in sequence order (sHead, sN: a ring): the
	// data up to seq left after delivered had been delivered, the last
	// of it at at. Once the peer has the data up to seq (cumulatively
	// or SACKed), what it received since, over the time since, is a
	// delivery rate sample, Linux's per-packet rate sample
	// (tcp_rate.c) for the checkpoint's last segment; rateMax is the
	// round's largest (see sampleRate).
	sends      [bbrCPs]sendCP
	sHead, sN  int
	lastD      int       // bbrDelivered at the previous ACK
	lastAt     time.Time // the previous ACK's time
	lastSendCP time.Time // when the newest checkpoint was taken
	rateMax    float64
	// appLimited says an ACK of the round came while the application or
	// the peer's window, not the window or the pacing rate, limited the
	// sender: the round's delivery rate says nothing of the path unless
	// it is a new high (BBR's app-limited samples), and it does not count
	// towards the bandwidth's plateau that ends startup.
	appLimited bool
}

// sendCP is a send-side checkpoint: the data up to seq left once
// delivered bytes had been delivered, the last of them at at.
type sendCP struct {
	seq       seqnum.Value
	delivered int
	at        time.Time
}

const (
	bbrCPs      = 16   // send checkpoints kept: two least RTTs' worth
	bbrBWRounds = 10   // the bandwidth filter's length, round trips
	bbrCycle    = 8    // round trips per probe cycle
	bbrCwndGain = 2.0  // the window in bandwidth-delay products
	bbrProbe    = 1.25 // the probing round's gain
	bbrDrain    = 0.75 // the pacing gain of the round after a probe
	// bbrStartupGain is startup's pacing gain, 2/ln 2 (BBR's high_gain).
	bbrStartupGain = 2.885
	bbrFull        = 1.25 // growth that says the pipe is not yet full
	// bbrLossThresh is the share of a round's data lost above which the
	// round says the path is full (BBR v2's loss_thresh, 2%), and
	// bbrBeta what the window keeps then (BBR v2's beta, 0.7).
	bbrLossThresh = 0.02
	bbrBeta       = 0.7
	// bbrLossMin is the least a lossy round loses, in segments (BBR v2's
	// full_loss_cnt): one random loss in a short round is no sign.
	bbrLossMin = 8
)

func (*bbrLite) name() string { return "bbrlite" }

// maxBW is the bandwidth filter's estimate: its rounds' and the
// current round's samples so far, as Linux's bbr feeds its filter each
// ACK's sample (waiting for the round's end, the pacing rate of a
// startup ran on samples of the data sent two rounds before, a quarter
// too slow for a window that doubles each round).
func (b *bbrLite) maxBW() float64 { return max(slices.Max(b.bw[:]), b.rateMax) }

// bbrDelivered is what the peer has received: acknowledged cumulatively
// or SACKed.
func bbrDelivered(w *ccWindow) int { return w.ccDelivered + w.ccSacked }

// lossCheck bounds the window to bbrBeta of base when the round so far
// lost too much, once per round; it reports whether it did.
func (b *bbrLite) lossCheck(w *ccWindow, base int) bool {
	if b.cut || b.cutOn && w.ccAck.LessThan(b.cutSeq) {
		return false
	}
	delivered, lost := bbrDelivered(w)-b.deliveredAt, w.ccLost-b.lostAt
	if lost < bbrLossMin*w.mss || float64(lost) <= bbrLossThresh*float64(lost+delivered) {
		return false
	}
	b.priorHi, b.priorFilled = b.inflightHi, b.filled
	// Not below what the round delivered so far, which the path carried
	// (after BBR v2's max(tx_in_flight, beta * target)): else a burst's
	// tail lost into a drop-tail queue, found in recovery with the
	// window already cut once, cuts it again below what the queue passes.
	b.inflightHi = max(int(bbrBeta*float64(base)), delivered, 4*w.mss)
	b.filled, b.cut, b.probeOK = true, true, false
	b.cutSeq, b.cutOn = w.ccNxt, true
	return true
}

// startRound starts a round trip at now.
func (b *bbrLite) startRound(w *ccWindow, now time.Time) {
	d := bbrDelivered(w)
	inFlight := max(int(w.ccAck.Size(w.ccNxt))-w.ccSacked, w.mss)
	b.roundStart, b.roundEnd, b.deliveredAt, b.lostAt, b.cut, b.appLimited = now, d+inFlight, d, w.ccLost, false, false
}

// sampleRate takes the delivery rate samples of an ACK: for each send
// checkpoint the peer now has, what was delivered since the checkpoint's
// data left over the time since (as Linux's rate samples do, from the
// delivery before a segment's send to the ACK of it). The data sent
// between the previous ACK and this one left after the previous ACK's
// delivery: it becomes the next checkpoint.
//
// A round's delivery over its whole length undercounts the path when the
// round has gaps (a lossy round stretched until its data is in), which
// the least-RTT samples do not. Samples over any least-RTT stretch of
// ACKs, as this took before, overcount a window sent and acknowledged in
// bursts: from the first ACK of one burst to the last of the next is two
// windows in little more than a round trip, and bbrlite paced at twice
// the path's rate into the drop-tail queue of the delay=50ms path
// (TestBBRLiteRules' burst row).
func (b *bbrLite) sampleRate(w *ccWindow, now time.Time) {
	d := bbrDelivered(w)
	high := seqnum.Max(w.ccAck, w.ccHigh)
	for b.sN > 0 {
		cp := &b.sends[b.sHead]
		if high.LessThan(cp.seq) {
			break
		}
		if dt := now.Sub(cp.at); dt > 0 {
			b.rateMax = max(b.rateMax, float64(d-cp.delivered)/dt.Seconds())
		}
		b.sHead, b.sN = (b.sHead+1)%bbrCPs, b.sN-1
	}
	newest := w.ccAck
	if b.sN > 0 {
		newest = b.sends[(b.sHead+b.sN-1)%bbrCPs].seq
	}
	if !b.lastAt.IsZero() && w.ccNxt.GreaterThan(newest) && b.sN < bbrCPs && now.Sub(b.lastSendCP) >= w.ccMinRTT/8 {
		b.sends[(b.sHead+b.sN)%bbrCPs] = sendCP{w.ccNxt, b.lastD, b.lastAt}
		b.sN++
		b.lastSendCP = now
	}
	b.lastD, b.lastAt = d, now
}

// step counts round trips and samples the delivery rate at each one's
// end; in recovery too (onRecoveryAck), where most rounds of a lossy or
// reordering path are.
func (b *bbrLite) step(w *ccWindow, now time.Time) {
	b.sampleRate(w, now)
	b.appLimited = b.appLimited || w.ccAppLimited
	if b.roundStart.IsZero() {
		b.startRound(w, now)
	} else if bbrDelivered(w) >= b.roundEnd {
		b.lossCheck(w, w.cwnd)
		if d := now.Sub(b.roundStart); d > 0 {
			b.round++
			if b.inflightHi > 0 && b.round%bbrCycle == 0 {
				if b.probeOK {
					b.inflightHi += b.inflightHi / 4 // probe above the bound
				}
				b.probeOK = true
			}
			// The round's own average only when it lasted the least
			// RTT: a round that started at the first ACK of a burst
			// ends with the burst (its data was what the burst
			// acknowledges), and its average is the burst's rate.
			bw := b.rateMax
			if d >= w.ccMinRTT {
				bw = max(bw, float64(bbrDelivered(w)-b.deliveredAt)/d.Seconds())
			}
			b.rateMax = 0
			// An app-limited round's sample counts only as a new high
			// (else the slot keeps its old one), and never towards the
			// plateau that ends startup.
			if !b.appLimited || bw >= b.maxBW() {
				b.bw[b.round%bbrBWRounds] = bw
				b.got[b.round%bbrBWRounds] = bbrDelivered(w) - b.deliveredAt
			}
			if !b.filled {
				if bw := b.maxBW(); bw >= b.fullBW*bbrFull {
					b.fullBW, b.fullRounds = bw, 0
				} else if !b.appLimited {
					if b.fullRounds++; b.fullRounds >= 3 {
						b.filled = true
					}
				}
			}
		}
		b.startRound(w, now)
	}
}

func (b *bbrLite) onAck(w *ccWindow, now time.Time, acked int, _ time.Duration) {
	b.step(w, now)
	target := 1 << 30
	if b.filled && w.ccMinRTT > 0 {
		gain := bbrCwndGain
		if b.round%bbrCycle == 0 {
			gain *= bbrProbe
		}
		// Not below what a recent round delivered: when the rounds
		// last longer than the least RTT for reasons of the hosts (a
		// loaded machine's scheduling, delayed and aggregated ACKs),
		// bandwidth times the least RTT underestimates the pipe, and
		// the window would shrink round after round (Linux's bbr adds
		// its extra_acked estimate for the same reason).
		target = max(int(gain*b.maxBW()*w.ccMinRTT.Seconds()), slices.Max(b.got[:]), 4*w.mss)
	}
	if b.inflightHi > 0 {
		target = min(target, b.inflightHi)
	}
	if w.cwnd < target {
		if !w.ccAppLimited { // a window the sender does not fill does not grow (RFC 7661)
			w.cwnd = min(w.cwnd+acked, target) // slow start's pace
		}
	} else {
		w.cwnd = target
	}
}

// pacingRate is BBR's pacing_gain times the bandwidth: 2/ln 2 in
// startup (the rate at which a window that doubles per round trip can
// leave), 1.25 in the probing round, 0.75 in the round after it (to
// drain the queue the probe built) and 1 otherwise. With no estimate yet
// the window alone limits the sender.
func (b *bbrLite) pacingRate(*ccWindow) float64 {
	return b.pacingGain() * b.maxBW()
}

// pacingGain is the gain pacingRate applies now.
func (b *bbrLite) pacingGain() float64 {
	switch {
	case !b.filled:
		return bbrStartupGain
	case b.round%bbrCycle == 0:
		return bbrProbe
	case b.round%bbrCycle == 1:
		return bbrDrain
	}
	return 1
}

// onRecoveryAck watches the loss rate during recovery, where the window
// is PRR's, heading for ssthresh: a lossy round lowers it.
func (b *bbrLite) onRecoveryAck(w *ccWindow, now time.Time) {
	b.step(w, now)
	if b.lossCheck(w, w.ssthresh) {
		w.ssthresh = b.inflightHi
	}
}

// onLoss keeps the window (the model, not a loss, sets it) unless the
// round is lossy or inflightHi bounds it.
func (b *bbrLite) onLoss(w *ccWindow, now time.Time, _ int) {
	w.ssthresh = w.cwnd
	b.priorHi, b.priorFilled = b.inflightHi, b.filled
	if b.inflightHi > 0 {
		w.ssthresh = min(w.ssthresh, b.inflightHi)
	}
	b.onRecoveryAck(w, now)
	w.ssthresh = max(w.ssthresh, 2*w.mss)
}

// onTimeout keeps the slow-start threshold at the window the model
// allows; the core restarts from one segment and onAck regrows it.
func (b *bbrLite) onTimeout(w *ccWindow, now time.Time, flight int) {
	b.onLoss(w, now, flight)
	b.cutSeq, b.cutOn = w.ccNxt, true // the flight the timeout answered
}

// onUndo forgets the last loss response, which was to a reordering
// (undo.go): the bound and the startup as they were before, and the
// losses the round counted (RACK marked the held-back segments).
// Without it, a reordering path's spurious losses cut the bound round
// after round down to its floor.
func (b *bbrLite) onUndo(w *ccWindow) {
	b.inflightHi, b.filled = b.priorHi, b.priorFilled
	b.lostAt, b.cut, b.cutOn = w.ccLost, false, false
}

// recoveryObserver is a congestionControl that sees the ACKs of SACK
// recovery too, and the undoing of a loss response.
type recoveryObserver interface {
	onRecoveryAck(w *ccWindow, now time.Time)
	onUndo(w *ccWindow)
}
