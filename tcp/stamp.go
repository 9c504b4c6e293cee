package tcp

import (
	"math"
	"time"
)

// The core keeps its times as stamps: offsets from the protocol's base
// time (config.base), 8 bytes where a time.Time takes 24. An idle server
// holds thousands of connections; with their times as time.Time an
// endpoint took the allocator's 2048-byte size class. With the times it
// measures from (when data was sent, received, timed) as stamps it took
// the 1792-byte one; with its deadlines (rtxAt, ackAt, twAt, kaAt, the
// probe, reordering and pacing timers) and CUBIC's epoch as stamps too,
// and its small counters and segment sizes in 32 bits, it takes the
// 1536-byte one (TestEndpointSizeClass, BenchmarkIdleConnectionHeap).
// Their origin was each connection's own epoch, a time.Time in every
// core; it is now one time for all the protocol's connections, in their
// shared config, which takes 24 more bytes off each. deadline turns the
// earliest deadline back into a time, for the endpoint's clock timer.

// stamp is a time as its offset from the protocol's base time
// (config.base, a nanosecond before the clock's reading when the protocol
// was made, so that no later time reads as unset); zero is unset. A
// deadline is set from a time the clock gave (the call's now, or a
// stamp's time) plus a duration of zero or more, so it never reads as
// unset either. What a connection does depends on the differences of
// its stamps and on their being set, not on the base.
type stamp time.Duration

// at returns now as a stamp; it is the window's (where the
// configuration, and so the base, is), so that CUBIC, which sees only the
// window, takes its stamps as the core does (c.at is this method). It is
// inlined: the application's goroutine sends small writes through it
// (rackSent), on a 2 KiB stack with little room to spare
// (TestIdleConnectionStack).
func (w *ccWindow) at(now time.Time) stamp { return stamp(now.Sub(w.cfg.base)) }

// time returns the time a set stamp stands for.
func (c *core) time(s stamp) time.Time { return c.cfg.base.Add(time.Duration(s)) }

// due returns the time of deadline s, zero if s is unset.
func (c *core) due(s stamp) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return c.time(s)
}

// since returns the time from s to now; an unset s is as long ago as
// the zero time.Time (now.Sub of it saturates to the longest duration).
func (c *core) since(now time.Time, s stamp) time.Duration {
	if s == 0 {
		return math.MaxInt64
	}
	return time.Duration(c.at(now) - s)
}
