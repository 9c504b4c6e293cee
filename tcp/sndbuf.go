package tcp

import (
	"math"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// Send-buffer auto-tuning, after Linux's tcp_sndbuf_expand and
// sk_stream_moderate_sndbuf, and congestion window validation (RFC 7661,
// Linux tcp_cwnd_validate / tcp_is_cwnd_limited), which it depends on.
//
// The send buffer holds what is in flight and what waits to be sent. A
// fixed buffer caps a connection at one buffer per round trip (256 KiB
// per 20 ms is 100 Mbit/s), so as Linux does the buffer grows with the
// congestion window: to twice the window (one window in flight, one
// queued behind it), at least twice the initial window, up to
// Options.MaxSendBuffer. The ring holds payload bytes only, so Linux's
// per-segment overhead (the skb's truesize) has no counterpart here.
//
// It grows only while it is the limit: when the congestion window is not
// (what is in flight is below it), after new data was acknowledged, and
// never under memory pressure or once the stack's buffers hold half the
// memory limit (tcp_mem[0]). Under pressure a connection gives back what
// auto-tuning gave it: the limit falls to half what it holds (never below
// the configured size) and the ring moves into a smaller buffer once its
// contents fit. An application that sets the size (SetWriteBuffer) turns
// auto-tuning off for its connection, as SO_SNDBUF does.
//
// The window itself grows only while it is used (tcp_is_cwnd_limited): in
// slow start while it is less than twice the most that was in flight in
// the last window of data, in congestion avoidance only if the sender was
// held back by it. Otherwise an application-limited (or buffer-limited)
// sender would grow the window without bound, and the buffer with it.

// cwndValidation is the core's record of how much of the congestion window
// the last window of data used.
type cwndValidation struct {
	flightMax   int32        // most bytes in flight since usageSeq was set
	usageSeq    seqnum.Value // the window of data ends here
	cwndLimited bool         // the window held the sender back in it
}

// noteCwndUse records, after output, how much of the window is used.
func (c *core) noteCwndUse() {
	inflight := int(c.sndUna.Size(c.sndNxt))
	limited := c.inFlight()+c.mss > c.cwnd && c.unsent() > 0
	if c.sndUna.GreaterThanEq(c.usageSeq) || limited || inflight > int(c.flightMax) {
		c.flightMax = int32(min(inflight, math.MaxInt32))
		c.usageSeq = c.sndNxt
		c.cwndLimited = limited
	}
}

// isCwndLimited says whether the congestion window may grow
// (tcp_is_cwnd_limited).
func (c *core) isCwndLimited() bool {
	if c.cwnd < c.ssthresh {
		return c.cwnd < 2*int(c.flightMax)
	}
	return c.cwndLimited
}

// unsent is the data queued but not yet sent.
func (c *core) unsent() int {
	return max(c.snd.n-int(c.sndBufSeq.Size(c.sndNxt)), 0)
}

// sndBufTarget is the send buffer the congestion window asks for: two
// windows, at least two initial windows.
func (c *core) sndBufTarget() int {
	return 2 * max(c.cwnd, 10*c.mss)
}

// sndWritable says whether a Write that waits for room in the send buffer
// is woken: once the free room is at least half what is queued, a third of
// the buffer, as Linux's sk_stream_is_writeable (sk_stream_wspace >=
// sk_stream_min_wspace). Waking the writer for every ACK that frees a
// little would hand it a segment's worth of room at a time: a wake-up, a
// short Write and another wait per ACK.
func (c *core) sndWritable() bool { return c.snd.max-c.snd.n >= c.snd.n/2 }

// sndbufExpand grows the send buffer after an ACK freed some of it
// (tcp_new_space), or moderates it under memory pressure.
func (c *core) sndbufExpand() {
	if c.sndLocked {
		return
	}
	m := c.cfg.mem
	if m.underPressure() {
		c.sndbufModerate()
		return
	}
	if c.snd.max >= c.cfg.maxSndBuf || int(c.sndUna.Size(c.sndMax)) >= c.cwnd {
		return // at the maximum, or the congestion window is the limit
	}
	if m != nil && !m.unlimited && m.inUse() >= m.low {
		return
	}
	if want := min(c.sndBufTarget(), c.cfg.maxSndBuf); want > c.snd.max {
		c.snd.max = want
		c.ctr.sndBufGrown.Inc()
	}
}

// sndbufModerate gives back what auto-tuning gave under memory pressure
// (sk_stream_moderate_sndbuf): the limit falls to half what is queued,
// not below the configured size; the ring moves into a smaller buffer
// when the contents fit one.
func (c *core) sndbufModerate() {
	if c.snd.max <= c.cfg.sndBuf {
		return
	}
	if m := max(min(c.snd.max, c.snd.n/2), c.cfg.sndBuf); m < c.snd.max {
		c.snd.max = m
		c.ctr.sndBufModerated.Inc()
	}
	c.snd.shrink()
}
