package tcp

import (
	"math"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// setKeepAlive turns keepalive probing on or off.
func (c *core) setKeepAlive(now time.Time, on bool) {
	c.busyOn()
	c.kaOn = on
	c.kaSent = 0
	c.kaAt = 0
	if on {
		from := now
		if c.lastRcv != 0 {
			from = c.time(c.lastRcv)
		}
		c.kaAt = c.at(from.Add(c.kaIdle()))
	}
}

// kaMillis is d in the whole milliseconds the connection keeps its
// keepalive times in, rounded up (Linux keeps whole seconds), at most
// 2^32-1 (49 days; Linux's bound is 32,767 seconds).
func kaMillis(d time.Duration) uint32 {
	const most = 1<<32 - 1
	if d >= most*time.Millisecond {
		return most // also where rounding up would overflow
	}
	return uint32((d + time.Millisecond - 1) / time.Millisecond)
}

// kaIdle and kaIntvl are the keepalive idle time and probe interval.
func (c *core) kaIdle() time.Duration  { return time.Duration(c.kaIdleMs) * time.Millisecond }
func (c *core) kaIntvl() time.Duration { return time.Duration(c.kaIntvlMs) * time.Millisecond }

// setKeepAlivePeriod sets the idle time and the probe interval, as Go's
// net.TCPConn.SetKeepAlivePeriod does.
func (c *core) setKeepAlivePeriod(now time.Time, d time.Duration) {
	c.busyOn()
	if d <= 0 {
		return
	}
	c.kaIdleMs = kaMillis(d)
	c.kaIntvlMs = c.kaIdleMs
	if c.kaOn {
		c.setKeepAlive(now, true)
	}
}

// keepalive runs when the keepalive timer is due: after kaIdle without a
// segment from the peer it sends a probe (an ACK for SND.UNA-1, which the
// peer must answer), every kaIntvl; after kaProbes unanswered probes the
// connection is reset and fails with ETIMEDOUT.
func (c *core) keepalive(now time.Time) {
	if !c.kaOn {
		return
	}
	switch c.state {
	case StateEstablished, StateCloseWait, StateFinWait1, StateFinWait2:
	default:
		return
	}
	if c.sndUna != c.sndMax {
		c.kaAt = c.at(now.Add(c.kaIdle())) // the retransmission timer is in charge
		return
	}
	if c.kaSent == 0 && c.since(now, c.lastRcv) < c.kaIdle() {
		c.kaAt = c.at(c.time(c.lastRcv).Add(c.kaIdle()))
		return
	}
	if int(c.kaSent) >= c.cfg.kaProbes {
		c.ctr.keepaliveTimeouts.Inc()
		c.emitReset(c.sndMax, c.rcvNxt, true)
		c.closeWith(stack.ErrTimedOut)
		return
	}
	c.emit(now, outSeg{seq: c.sndUna.Sub(1), ack: c.rcvNxt, flags: FlagACK})
	c.kaSent++
	c.kaAt = c.at(now.Add(c.kaIntvl()))
}

// autotune grows the receive buffer (Linux's dynamic right-sizing) when
// the application read more in the last round trip than ever before:
// the buffer becomes four times that, up to the configured maximum, so
// the window stays ahead of the bandwidth-delay product.
func (c *core) autotune(now time.Time, k int) {
	if c.rcvLocked || c.rcv.max >= c.cfg.maxRcvBuf || c.cfg.mem.underPressure() {
		return
	}
	c.tuneCopied = int32(min(int(c.tuneCopied)+k, math.MaxInt32))
	if c.tuneStart == 0 {
		c.tuneStart = c.at(now)
		return
	}
	if c.since(now, c.tuneStart) < max(c.rtt.srtt, time.Millisecond) {
		return
	}
	copied := c.tuneCopied
	c.tuneStart, c.tuneCopied = c.at(now), 0
	if copied <= c.tuneSpace {
		return
	}
	c.tuneSpace = copied
	if want := min(4*int(copied), c.cfg.maxRcvBuf); want > c.rcv.max {
		c.rcv.max = want
		c.ctr.rcvBufGrown.Inc()
	}
}
