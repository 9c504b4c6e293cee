package tcp

// Pacing: for a congestion control that sets a rate (bbrlite), new data
// leaves at that rate in bursts of about a millisecond's worth (Linux's
// tcp_tso_autosize), not a window's worth at each ACK. A burst into a
// drop-tail queue (a switch's, netem's limit, a TAP's) loses its tail;
// the same window spread over the round trip passes. Recovery's
// retransmissions and new data are paced too (rackRecover, sackRecover),
// as Linux paces every segment: a drop-tail queue's losses, retransmitted
// as their SACKs come back, left in a burst as long as the one that lost
// them and overflowed the queue again. The fast retransmit that starts
// recovery, probes, the FIN, NewReno recovery and the go-back-N after a
// timeout are not paced.

import (
	"math"
	"time"
)

// pacer is a congestionControl that paces the sender.
type pacer interface {
	// pacingRate is the rate new data may leave at, in bytes per
	// second; 0 leaves the window alone to limit it.
	pacingRate(w *ccWindow) float64
}

// paceState is the sender's pacing: a credit of bytes earned at the rate,
// at most two bursts, spent by what leaves.
type paceState struct {
	p      pacer // the algorithm, when it paces; nil: no pacing
	credit int   // bytes that may leave now
	last   stamp // when the credit was last earned
	at     stamp // the pacing timer: when output may send again; 0: not armed
}

// paceQuantum is how long a burst lasts at the pacing rate (Linux's
// tcp_tso_autosize sizes a TSO burst to one millisecond of it).
const paceQuantum = time.Millisecond

// paceRate is the rate to pace at now, and the burst it allows: 0 when
// the algorithm sets none, or when the whole bandwidth-delay product fits
// in one burst (on a path of a millisecond's round trip there is nothing
// to spread, and a timer per burst would cost more than it saves).
func (c *core) paceRate() (rate float64, burst int) {
	if c.pace.p == nil {
		return 0, 0
	}
	rate = c.pace.p.pacingRate(&c.ccWindow)
	if rate <= 0 || c.ccMinRTT <= paceQuantum {
		return 0, 0
	}
	return rate, max(int(rate*paceQuantum.Seconds()), 2*c.mss)
}

// outputPaced sends new data as output does, within the window and the
// pacing credit, and sets the pacing timer when the credit, not the
// window or the data, stopped it.
func (c *core) outputPaced(now time.Time) {
	rate, burst := c.paceEarn(now)
	if rate == 0 {
		c.sendWindow(now)
		return
	}
	for {
		nxt := c.sndNxt
		if !c.sendNew(now, min(c.cwnd-c.inFlight(), c.pace.credit)) {
			break
		}
		c.pace.credit -= int(nxt.Size(c.sndNxt))
	}
	if c.pace.credit >= c.mss || c.cwnd-c.inFlight() < c.mss {
		return // the window, the peer's window or the data stopped it
	}
	if off := int(c.sndBufSeq.Size(c.sndNxt)); c.snd.n <= off || int(c.sndWnd) <= int(c.sndUna.Size(c.sndNxt)) {
		return
	}
	c.paceWait(now, rate, burst)
}

// paceEarn starts a paced send at now: the credit earned since the last
// one, and the pacing rate and burst (rate 0: not paced). The pacing
// timer is off until paceWait sets it.
func (c *core) paceEarn(now time.Time) (rate float64, burst int) {
	c.pace.at = 0
	rate, burst = c.paceRate()
	if rate == 0 {
		return 0, 0
	}
	if c.pace.last == 0 {
		c.pace.credit = burst
	} else {
		// Up to two bursts: the timer that lets the next burst go
		// fires late by up to a millisecond on Go's runtime (its poller
		// sleeps in whole milliseconds when nothing else runs), and
		// with a cap of one burst each late wake-up lost its lateness:
		// the sender then left at two thirds of the rate or less, its
		// delivery rate samples followed, and bbrlite's bandwidth
		// estimate sank with them (a lossless 20 ms path read 0.46 to
		// 0.77 s for 16 MiB where Linux's bbr took 0.43 to 0.49).
		c.pace.credit = min(c.pace.credit+int(rate*c.since(now, c.pace.last).Seconds()), 2*burst)
	}
	c.pace.last = c.at(now)
	return rate, burst
}

// paceRoom bounds a recovery's room to the pacing credit when it is
// paced (rate > 0, from paceEarn); it reports false, the timer set,
// when the credit, not the window, holds less than a segment (a full
// window waits for ACKs, not for the pacing timer, as in outputPaced).
func (c *core) paceRoom(now time.Time, rate float64, burst, room int) (int, bool) {
	if rate == 0 || room < c.mss {
		return room, true
	}
	if c.pace.credit < c.mss {
		c.paceWait(now, rate, burst)
		return 0, false
	}
	return min(room, c.pace.credit), true
}

// paceSpend takes n bytes sent from the credit when paced.
func (c *core) paceSpend(rate float64, n int) {
	if rate > 0 {
		c.pace.credit -= n
	}
}

// paceWait sets the pacing timer for when the credit holds a burst.
func (c *core) paceWait(now time.Time, rate float64, burst int) {
	wait := float64(burst-max(c.pace.credit, 0)) / rate
	c.pace.at = c.at(now.Add(time.Duration(math.Ceil(wait * float64(time.Second)))))
}

// paceDue runs the pacing timer if it is due at now (a stamp); it
// reports whether output should run.
func (c *core) paceDue(now stamp) bool {
	if c.pace.at == 0 || now < c.pace.at {
		return false
	}
	c.pace.at = 0
	return true
}
