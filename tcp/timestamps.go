package tcp

import "time"

// Timestamps (RFC 7323): TSval clock, PAWS, TS.Recent and RTT measurement.

// tsOptLen is the space a timestamps option takes (NOP, NOP, kind, len,
// TSval, TSecr).
const tsOptLen = 12

// pawsIdle is how long TS.Recent stays valid without being refreshed (RFC
// 7323 section 5.5: 24 days).
const pawsIdle = 24 * 24 * time.Hour

// tsNow is our TSval clock: milliseconds, as Linux, plus a
// per-connection random offset.
func (c *core) tsNow(now time.Time) uint32 { return c.cfg.tsClock(now) + c.tsOffset }

// tsClock is the TSval clock of all the protocol's connections (before
// their offsets; SYN cookies and TIME_WAIT records answer with it too):
// milliseconds since the protocol's base time (config.base), on the
// clock's monotonic reading when it has one. RFC 7323 section 5.4 asks
// for a clock that only goes forward: one on the wall clock went back
// with the wall clock (NTP stepping it at boot), and the peer's PAWS
// then dropped every segment of the connection as an old duplicate.
// Without a protocol (the core's tests) the base is the Unix epoch, and
// this is now.UnixMilli().
func (cfg *config) tsClock(now time.Time) uint32 {
	return uint32(cfg.nanos(now) / int64(time.Millisecond))
}

// nanos is t in nanoseconds since the protocol's base time, on the
// clock's monotonic reading when it has one: the clock of what the
// protocol keeps as a number across time (TIME_WAIT records' ends, the
// last SYN cookie sent, the ISN's timer), so that a step of the wall
// clock does not hold a TIME_WAIT record for hours or end it at once, nor
// move the ISN clock back (RFC 6528's M is a timer). Without a protocol
// (the core's tests) it is t.UnixNano().
func (cfg *config) nanos(t time.Time) int64 { return int64(t.Sub(cfg.base)) }

// seconds is t in whole seconds since the protocol's base (config.nanos),
// rounded down, modulo 2^32: the clock of the challenge ACK cap.
func (cfg *config) seconds(t time.Time) uint32 {
	return uint32(floorDiv(cfg.nanos(t), int64(time.Second)))
}

// cookieCount is the SYN cookie counter at t: cookiePeriod-second ticks
// since the protocol's base (config.nanos), modulo 2^32. A wall clock
// step no longer ages every cookie in flight at once.
func (cfg *config) cookieCount(t time.Time) uint32 {
	return uint32(floorDiv(cfg.nanos(t), int64(cookiePeriod*time.Second)))
}

// floorDiv is a/b rounded towards minus infinity (b > 0): a test's clock
// may read before the protocol's base, and a tick must not be twice as
// long around it.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// secStamp is a set stamp in whole seconds, plus one, so that zero
// stays unset: 4 bytes where a stamp takes 8, for when TS.Recent was set,
// which PAWS measures against 24 days (it fills the core's padding after
// lastOOWAck and takes the endpoint to the 640-byte size class). It wraps
// after 136 years of the protocol.
type secStamp uint32

// secs returns s as a secStamp.
func (s stamp) secs() secStamp { return secStamp(time.Duration(s)/time.Second) + 1 }

// tsBefore reports a < b in timestamp space (modulo 2^32).
func tsBefore(a, b uint32) bool { return int32(a-b) < 0 }

// pawsReject is RFC 7323 section 5.3 R1: a non-RST segment whose TSval is
// older than TS.Recent is an old duplicate (unless TS.Recent is stale).
func (c *core) pawsReject(now stamp, seg *segment) bool {
	if !c.tsOn || !seg.opts.HasTimestamps || seg.has(FlagRST) || !tsBefore(seg.opts.TSVal, c.tsRecent) {
		return false
	}
	if c.tsRecentAt == 0 || time.Duration(now.secs()-c.tsRecentAt)*time.Second > pawsIdle {
		c.tsRecent, c.tsRecentAt = seg.opts.TSVal, now.secs()
		return false
	}
	return true
}

// updateTSRecent is RFC 7323 section 4.3 (and 5.3 R3): an acceptable
// segment at or before Last.ACK.sent with a TSval not older than TS.Recent
// updates it, so the echo reflects the earliest unacknowledged segment.
func (c *core) updateTSRecent(now stamp, seg *segment) {
	if c.tsOn && seg.opts.HasTimestamps && !tsBefore(seg.opts.TSVal, c.tsRecent) && seg.seq.LessThanEq(c.lastAckSent) {
		c.tsRecent, c.tsRecentAt = seg.opts.TSVal, now.secs()
	}
}

// tsSample feeds an RTT sample from the echoed timestamp of an ACK that
// acknowledges new data (RFC 7323 section 4; valid for retransmissions
// too, since each transmission carries its own TSval). It reports whether
// it took one.
func (c *core) tsSample(now time.Time, seg *segment) bool {
	if !c.tsOn || !seg.opts.HasTimestamps || seg.opts.TSEcr == 0 {
		return false
	}
	d := int32(c.tsNow(now) - seg.opts.TSEcr)
	if d < 0 || time.Duration(d)*time.Millisecond > c.cfg.maxRTO {
		return false
	}
	c.rtt.sample(time.Duration(d)*time.Millisecond, c.cfg.minRTO, c.cfg.maxRTO)
	return true
}
