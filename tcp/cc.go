package tcp

import (
	"math"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// ccWindow is the congestion state a congestion control algorithm
// adjusts: the congestion window and slow-start threshold in bytes and the
// sender's MSS. The core embeds it, so c.cwnd, c.ssthresh and c.mss are
// these fields.
type ccWindow struct {
	// cfg is the connection's configuration; c.cfg is this field. It is
	// here, not in the core, so that the window finds the origin of the
	// stamps (config.base, stamp.go) and an algorithm can keep its times
	// as stamps too (cubic).
	cfg *config

	cwnd, ssthresh int
	mss            int // effective send MSS (payload bytes per full segment)
	caAcc          int // bytes acknowledged towards the next Reno increase
	// What the ACK being processed tells onAck beyond the bytes: its
	// cumulative ACK, SND.NXT, and its RTT sample (0: none).
	ccAck, ccNxt    seqnum.Value
	ccRTT, ccMinRTT time.Duration
	// ccDelivered counts the bytes cumulatively acknowledged, in
	// recovery too, and ccLost those RACK marked lost (a segment once
	// per transmission), for an algorithm that measures delivery and
	// loss rates.
	ccDelivered, ccLost int
	// ccSacked is the bytes SACKed now and ccHigh the highest sequence
	// the peer has (the cumulative ACK or the highest SACK), set for a
	// recoveryObserver before each call (onAck, onRecoveryAck, onLoss:
	// ccObserve).
	ccSacked int
	ccHigh   seqnum.Value
	// ccAppLimited says, for a pacing algorithm's onAck (which sees
	// every ACK), that neither the window nor the pacing rate limited
	// the sender: the application or the peer's window did.
	ccAppLimited bool
}

// ccObserves says ca is a recoveryObserver (bbr.go): it is shown the
// ACKs of recovery and undos, and the SACKed bytes are counted for it,
// where other algorithms cost the packet path nothing of that. A type
// assertion where a flag took a byte of the connection.
func (c *core) ccObserves() bool {
	_, ok := c.ca.(recoveryObserver)
	return ok
}

// ccObserve sets what a recoveryObserver reads beyond the ACK: the
// bytes SACKed and the highest sequence the peer has.
func (c *core) ccObserve() {
	c.ccSacked = c.sackedBytes()
	c.ccHigh = c.ccAck
	if n := len(c.sb.blocks); c.sackOn && n > 0 && c.sb.blocks[n-1].end.GreaterThan(c.ccHigh) {
		c.ccHigh = c.sb.blocks[n-1].end
	}
}

// minRTT is the least RTT seen, for the congestion control (ccMinRTT):
// RACK's min_RTT, or without RACK's records (no SACK) the least of the
// samples the ACKs have given it so far.
func (c *core) minRTT() time.Duration {
	if c.rack.minRTT > 0 {
		return c.rack.minRTT
	}
	if l := c.rtt.latest; l > 0 && (c.ccMinRTT == 0 || l < c.ccMinRTT) {
		return l
	}
	return c.ccMinRTT
}

// congestionControl is a pluggable congestion control algorithm. The core
// runs slow start / congestion avoidance through onAck outside loss
// recovery, and calls onLoss or onTimeout when it detects a loss; the
// recovery itself (NewReno or RFC 6675 SACK) is the core's. Methods get
// the time from the caller: implementations stay clock-free.
type congestionControl interface {
	// name is the Linux name of the algorithm ("cubic", "reno").
	name() string
	// onAck grows the window for acked newly acknowledged bytes; rtt is
	// the smoothed RTT (zero before the first sample).
	onAck(w *ccWindow, now time.Time, acked int, rtt time.Duration)
	// onLoss reacts to a loss found by duplicate ACKs or SACK (or an ECN
	// echo): it sets ssthresh; the core then sets cwnd for recovery.
	onLoss(w *ccWindow, now time.Time, flight int)
	// onTimeout reacts to a retransmission timeout: it sets ssthresh; the
	// core then sets cwnd to one segment.
	onTimeout(w *ccWindow, now time.Time, flight int)
}

// newCongestionControl returns the algorithm called name.
func newCongestionControl(name string) (congestionControl, bool) {
	switch name {
	case "cubic", "":
		return &cubic{}, true
	case "reno", "newreno":
		return &newReno{}, true
	case "bbrlite":
		return &bbrLite{}, true
	}
	return registeredCC(name) // ccapi.go
}

// slowStart is the slow-start increase by the bytes acknowledged, as
// Linux does (RFC 3465 without its L = 2 limit): a receiver of TSO
// super-segments (a Linux peer behind an offloading TAP gets them whole)
// acknowledges 64 KiB at once, and L = 2 would let the window grow by two
// segments per 45 acknowledged.
func slowStart(w *ccWindow, acked int) {
	w.cwnd += acked
}

// newReno is Reno's congestion avoidance (RFC 5681) with byte counting
// (RFC 3465): one MSS per window of acknowledged bytes.
type newReno struct{}

func (*newReno) name() string { return "reno" }

func (*newReno) onAck(w *ccWindow, _ time.Time, acked int, _ time.Duration) {
	if w.cwnd < w.ssthresh {
		slowStart(w, acked)
		return
	}
	w.caAcc += acked
	if w.caAcc >= w.cwnd {
		w.caAcc -= w.cwnd
		w.cwnd += w.mss
	}
}

func (*newReno) onLoss(w *ccWindow, _ time.Time, flight int) {
	w.ssthresh = max(flight/2, 2*w.mss)
	w.caAcc = 0
}

func (r *newReno) onTimeout(w *ccWindow, now time.Time, flight int) { r.onLoss(w, now, flight) }

// CUBIC constants (RFC 9438 section 4).
const (
	cubicC    = 0.4
	cubicBeta = 0.7
	// cubicAlpha is the Reno-friendly additive increase, 3(1-β)/(1+β).
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
)

// cubic is CUBIC (RFC 9438) with fast convergence and the Reno-friendly
// region; windows are computed in segments.
type cubic struct {
	wMax  float64 // window before the last reduction, segments
	k     float64 // seconds from the epoch start to reach wMax
	epoch stamp   // start of the current congestion avoidance epoch, a stamp (w.at); 0: none
	wEst  float64 // Reno-friendly estimate, segments
	hs    hystart // HyStart++ in the initial slow start (hystart.go)
}

func (*cubic) name() string { return "cubic" }

func (c *cubic) onAck(w *ccWindow, now time.Time, acked int, rtt time.Duration) {
	if w.cwnd < w.ssthresh {
		if w.ssthresh >= initialSsthresh {
			c.hs.onAck(w, acked)
		} else {
			slowStart(w, acked)
		}
		return
	}
	mss := float64(w.mss)
	cw := float64(w.cwnd) / mss
	at := w.at(now)
	if c.epoch == 0 {
		c.epoch = at
		if cw < c.wMax {
			c.k = math.Cbrt((c.wMax - cw) / cubicC)
		} else {
			c.k, c.wMax = 0, cw
		}
		c.wEst = cw
	}
	segs := float64(acked) / mss
	t := time.Duration(at-c.epoch).Seconds() + rtt.Seconds()
	d := t - c.k
	target := cubicC*d*d*d + c.wMax
	target = min(max(target, cw), 1.5*cw)
	alpha := cubicAlpha
	if c.wEst >= c.wMax {
		alpha = 1
	}
	c.wEst += alpha * segs / cw
	next := cw + (target-cw)/cw*segs
	if c.wEst > next {
		next = c.wEst // the Reno-friendly region
	}
	w.cwnd = max(int(next*mss), w.cwnd)
}

func (c *cubic) onLoss(w *ccWindow, _ time.Time, _ int) {
	cw := float64(w.cwnd) / float64(w.mss)
	if cw < c.wMax {
		c.wMax = cw * (1 + cubicBeta) / 2 // fast convergence
	} else {
		c.wMax = cw
	}
	w.ssthresh = max(int(cw*cubicBeta*float64(w.mss)), 2*w.mss)
	c.epoch = 0
}

func (c *cubic) onTimeout(w *ccWindow, now time.Time, flight int) { c.onLoss(w, now, flight) }
