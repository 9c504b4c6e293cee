package tcp

import "time"

// The core's timers: each is a deadline field of the part it serves
// (rtxAt the sender's, ackAt the receiver's, twAt, kaAt, the probe,
// reordering and pacing timers); the endpoint arms one clock timer for
// the earliest (endpoint.armTimer) and runs handleTimer when it fires.

// deadline is when handleTimer must next run, zero if no timer is pending.
func (c *core) deadline() time.Time {
	d := c.rtxAt
	for _, s := range [...]stamp{c.twAt, c.ackAt, c.kaAt, c.tlp.at, c.rack.at, c.pace.at} {
		if s != 0 && (d == 0 || s < d) {
			d = s
		}
	}
	return c.due(d)
}

// handleTimer runs the timers that are due at now.
func (c *core) handleTimer(now time.Time) {
	c.busyOn()
	at := c.at(now)
	if c.twAt != 0 && at >= c.twAt {
		c.twAt = 0
		if c.state == StateTimeWait || c.state == StateFinWait2 {
			c.closeWith(nil)
			return
		}
	}
	if c.ackAt != 0 && at >= c.ackAt {
		c.ackAt = 0
		if c.state.synchronized() && c.state != StateTimeWait {
			c.ctr.delayedAcks.Inc()
			c.ackNow = true
		}
	}
	if c.kaAt != 0 && at >= c.kaAt {
		c.kaAt = 0
		c.keepalive(now)
		if c.state == StateClosed {
			return
		}
	}
	if c.rack.at != 0 && at >= c.rack.at {
		c.rack.at = 0
		c.rec().timer(c, now)
	}
	if c.tlp.at != 0 && at >= c.tlp.at {
		c.tlpFire(now)
	}
	if c.rtxAt != 0 && at >= c.rtxAt {
		c.rtxAt = 0
		c.retransmitTimer(now)
		if c.state == StateClosed {
			return
		}
	}
	if paced := c.paceDue(at); c.ackNow || paced {
		c.output(now)
	}
}
