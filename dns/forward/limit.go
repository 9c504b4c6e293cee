package forward

import (
	"net/netip"
	"time"
)

// bucket is a token bucket: tokens refill at rate per second up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) allow(now time.Time, rate float64, burst int) bool {
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

// sources is a token bucket per source address in a table of at most max
// entries: when it is full, buckets that refilled are forgotten, and if
// none did, arbitrary ones. Not safe for concurrent use.
type sources struct {
	rate  float64
	burst int
	max   int
	m     map[netip.Addr]bucket
}

func (s *sources) allow(src netip.Addr, now time.Time) bool {
	if s.rate < 0 {
		return true
	}
	b, ok := s.m[src]
	if !ok && len(s.m) >= s.max {
		for k, v := range s.m {
			if v.tokens+now.Sub(v.last).Seconds()*s.rate >= float64(s.burst) {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < s.max {
				break
			}
			delete(s.m, k)
		}
	}
	ok = b.allow(now, s.rate, s.burst)
	s.m[src] = b
	return ok
}
