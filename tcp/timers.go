package tcp

import "time"

// The core's timers: each is a deadline field of the part it serves
// (rtxAt the sender's, ackAt the receiver's, twAt, kaAt, the probe,
// reordering and pacing timers); the endpoint arms one clock timer for
// the earliest (endpoint.armTimer) and runs handleTimer when it fires.

// deadline is when handleTimer must next run, zero if no timer is pending.
func (c *core) deadline() time.Time {
	d := c.rtxAt
	for _, t := range [...]*time.Time{&c.twAt, &c.ackAt, &c.kaAt, &c.tlp.at, &c.rack.at, &c.pace.at} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = *t
		}
	}
	return d
}

// handleTimer runs the timers that are due at now.
func (c *core) handleTimer(now time.Time) {
	if !c.twAt.IsZero() && !now.Before(c.twAt) {
		c.twAt = time.Time{}
		if c.state == StateTimeWait || c.state == StateFinWait2 {
			c.closeWith(nil)
			return
		}
	}
	if !c.ackAt.IsZero() && !now.Before(c.ackAt) {
		c.ackAt = time.Time{}
		if c.state.synchronized() && c.state != StateTimeWait {
			c.ctr.delayedAcks.Inc()
			c.ackNow = true
		}
	}
	if !c.kaAt.IsZero() && !now.Before(c.kaAt) {
		c.kaAt = time.Time{}
		c.keepalive(now)
		if c.state == StateClosed {
			return
		}
	}
	if !c.rack.at.IsZero() && !now.Before(c.rack.at) {
		c.rack.at = time.Time{}
		c.rec.timer(c, now)
	}
	if !c.tlp.at.IsZero() && !now.Before(c.tlp.at) {
		c.tlpFire(now)
	}
	if !c.rtxAt.IsZero() && !now.Before(c.rtxAt) {
		c.rtxAt = time.Time{}
		c.retransmitTimer(now)
		if c.state == StateClosed {
			return
		}
	}
	if paced := c.paceDue(now); c.ackNow || paced {
		c.output(now)
	}
}
