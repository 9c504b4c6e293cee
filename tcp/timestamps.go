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
func (c *core) tsNow(now time.Time) uint32 { return uint32(now.UnixMilli()) + c.tsOffset }

// tsBefore reports a < b in timestamp space (modulo 2^32).
func tsBefore(a, b uint32) bool { return int32(a-b) < 0 }

// pawsReject is RFC 7323 section 5.3 R1: a non-RST segment whose TSval is
// older than TS.Recent is an old duplicate (unless TS.Recent is stale).
func (c *core) pawsReject(now stamp, seg *segment) bool {
	if !c.tsOn || !seg.opts.HasTimestamps || seg.has(FlagRST) || !tsBefore(seg.opts.TSVal, c.tsRecent) {
		return false
	}
	if c.tsRecentAt == 0 || time.Duration(now-c.tsRecentAt) > pawsIdle {
		c.tsRecent, c.tsRecentAt = seg.opts.TSVal, now
		return false
	}
	return true
}

// updateTSRecent is RFC 7323 section 4.3 (and 5.3 R3): an acceptable
// segment at or before Last.ACK.sent with a TSval not older than TS.Recent
// updates it, so the echo reflects the earliest unacknowledged segment.
func (c *core) updateTSRecent(now stamp, seg *segment) {
	if c.tsOn && seg.opts.HasTimestamps && !tsBefore(seg.opts.TSVal, c.tsRecent) && seg.seq.LessThanEq(c.lastAckSent) {
		c.tsRecent, c.tsRecentAt = seg.opts.TSVal, now
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
	c.rtt.sample(time.Duration(d) * time.Millisecond)
	return true
}
