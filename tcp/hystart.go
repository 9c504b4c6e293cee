package tcp

import (
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// HyStart++ (RFC 9406) in CUBIC's initial slow start. Slow start doubles
// the window every round trip until a loss, so it ends by overshooting
// the path's capacity by up to a window: a burst of losses (on a 20 ms
// path with a 1,000-packet queue, thousands of segments). HyStart++
// watches the smallest RTT of each round: once it rises by a threshold
// (an eighth of the last round's, between 4 and 16 ms), the queue is
// building, and the sender goes on in Conservative Slow Start (CSS), a
// quarter of slow start's growth, for up to five rounds before leaving
// for congestion avoidance; an RTT that falls back below the baseline
// means the rise was noise, and slow start resumes. It runs only while
// ssthresh has its initial value (the RFC recommends it for the initial
// slow start); after a loss, slow start is the standard one. Growth in
// slow start is not limited to L segments per ACK (the RFC's L = 8 for
// unpaced senders) for the reason slowStart gives.

// HyStart++ constants (RFC 9406 section 4.3).
const (
	hsMinRTTThresh  = 4 * time.Millisecond
	hsMaxRTTThresh  = 16 * time.Millisecond
	hsMinRTTDivisor = 8
	hsNRTTSample    = 8
	hsCSSGrowthDiv  = 4
	hsCSSRounds     = 5
	hsNoRTT         = time.Duration(1<<63 - 1) // infinity
	initialSsthresh = 1 << 30
)

// hystart is the state of HyStart++ (RFC 9406 section 4.2).
type hystart struct {
	started           bool
	inCSS             bool
	windowEnd         seqnum.Value // the round ends when this is acknowledged
	lastRoundMinRTT   time.Duration
	curRoundMinRTT    time.Duration
	rttSampleCount    int32
	cssRounds         int32
	cssBaselineMinRTT time.Duration
	cssAcc            int // bytes acknowledged in CSS not yet grown by
}

// rttThresh is RFC 9406's RttThresh: an eighth of the last round's
// minimum RTT, clamped to [4ms, 16ms].
func rttThresh(lastRoundMinRTT time.Duration) time.Duration {
	return max(hsMinRTTThresh, min(lastRoundMinRTT/hsMinRTTDivisor, hsMaxRTTThresh))
}

// onAck grows the window in slow start for acked bytes acknowledged by
// an ACK of w.ccAck, whose RTT sample (0: none) is w.ccRTT, w.ccNxt being
// SND.NXT. Slow start ends when it sets ssthresh.
func (h *hystart) onAck(w *ccWindow, acked int) {
	if !h.started || w.ccAck.GreaterThanEq(h.windowEnd) {
		// A round begins (section 4.2: "At the start of each round").
		if h.started && h.inCSS {
			h.cssRounds++
			if h.cssRounds >= hsCSSRounds {
				w.ssthresh = w.cwnd // on to congestion avoidance
				h.inCSS = false
				return
			}
		}
		if !h.started {
			h.curRoundMinRTT = hsNoRTT
		}
		h.started = true
		h.lastRoundMinRTT = h.curRoundMinRTT
		h.curRoundMinRTT = hsNoRTT
		h.rttSampleCount = 0
		h.windowEnd = w.ccNxt
	}
	if w.ccRTT > 0 {
		h.curRoundMinRTT = min(h.curRoundMinRTT, w.ccRTT)
		h.rttSampleCount++
	}
	enough := h.rttSampleCount >= hsNRTTSample && h.curRoundMinRTT != hsNoRTT
	if !h.inCSS {
		slowStart(w, acked)
		if enough && h.lastRoundMinRTT != hsNoRTT && h.curRoundMinRTT >= h.lastRoundMinRTT+rttThresh(h.lastRoundMinRTT) {
			h.inCSS = true
			h.cssBaselineMinRTT = h.curRoundMinRTT
			h.cssRounds = 0
			h.cssAcc = 0
		}
		return
	}
	h.cssAcc += acked
	w.cwnd += h.cssAcc / hsCSSGrowthDiv
	h.cssAcc %= hsCSSGrowthDiv
	if enough && h.curRoundMinRTT < h.cssBaselineMinRTT {
		h.inCSS = false // the RTT rise was spurious: slow start again
		h.cssBaselineMinRTT = hsNoRTT
	}
}
