package tcp

import (
	"sync/atomic"
	"time"
)

// rateLimiter allows up to limit events per wall-clock second across all
// connections (Linux's challenge-ACK limit works the same way). It is
// lock-free and takes the time from its caller.
type rateLimiter struct {
	limit  int64
	second atomic.Int64
	count  atomic.Int64
}

func newRateLimiter(limit int) *rateLimiter { return &rateLimiter{limit: int64(limit)} }

// allow reports whether one more event fits in the current second.
func (r *rateLimiter) allow(now time.Time) bool {
	sec := now.Unix()
	if s := r.second.Load(); s != sec && r.second.CompareAndSwap(s, sec) {
		r.count.Store(0)
	}
	return r.count.Add(1) <= r.limit
}
