package server

import (
	"time"

	"github.com/tapstack/tapstack/stack"
)

// bucket is a token bucket: tokens refill at rate per second up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes a token if there is one.
func (b *bucket) allow(now time.Time, rate float64, burst int) bool {
	if rate < 0 {
		return true
	}
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d.Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket would be full at now (its client has
// been quiet long enough to forget).
func (b *bucket) full(now time.Time, rate float64, burst int) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rate >= float64(burst)
}

// clientLimiter is a token bucket per hardware address in a table of at
// most max entries. When the table is full, buckets that refilled are
// forgotten; if none did, an arbitrary one is.
type clientLimiter struct {
	rate  float64
	burst int
	max   int
	m     map[stack.MAC]bucket
}

func (l *clientLimiter) allow(mac stack.MAC, now time.Time) bool {
	if l.rate < 0 {
		return true
	}
	b, ok := l.m[mac]
	if !ok && len(l.m) >= l.max {
		for k, v := range l.m {
			if v.full(now, l.rate, l.burst) {
				delete(l.m, k)
			}
		}
		for k := range l.m {
			if len(l.m) < l.max {
				break
			}
			delete(l.m, k)
		}
	}
	ok = b.allow(now, l.rate, l.burst)
	l.m[mac] = b
	return ok
}
