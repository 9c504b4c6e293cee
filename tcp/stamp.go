package tcp

import (
	"math"
	"time"
)

// A connection keeps most of its times as stamps: offsets from its own
// epoch, 8 bytes where a time.Time takes 24. An idle server holds
// thousands of connections; with their times as time.Time an endpoint
// took the allocator's 2048-byte size class, with stamps the 1792-byte
// one (BenchmarkIdleConnectionHeap). The deadlines the timer reads
// (deadline) stay times.

// stamp is a time as its offset from the connection's epoch (core.epoch,
// a nanosecond before init's now, so that no later time reads as unset);
// zero is unset.
type stamp time.Duration

// at returns now as a stamp. It is inlined: the application's goroutine
// sends small writes through it (rackSent), on a 2 KiB stack with little
// room to spare (TestIdleConnectionStack).
func (c *core) at(now time.Time) stamp { return stamp(now.Sub(c.epoch)) }

// time returns the time a set stamp stands for.
func (c *core) time(s stamp) time.Time { return c.epoch.Add(time.Duration(s)) }

// since returns the time from s to now; an unset s is as long ago as
// the zero time.Time (now.Sub of it saturates to the longest duration).
func (c *core) since(now time.Time, s stamp) time.Duration {
	if s == 0 {
		return math.MaxInt64
	}
	return time.Duration(c.at(now) - s)
}
