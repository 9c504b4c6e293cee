// Package gcra is the rate limiter of the stack's ICMP errors (IPv4 and
// IPv6): a token bucket in GCRA form, safe for concurrent use.
package gcra

import (
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Limiter lets one message through per Interval on average, Burst of
// them at once after a quiet spell. The zero Limiter (Interval 0) lets
// everything through.
type Limiter struct {
	// Interval is the time one message takes from the budget.
	Interval time.Duration
	// Burst is how many messages may run ahead of the rate.
	Burst int

	mu sync.Mutex
	// tat is the theoretical arrival time of the next message on
	// stack.Nanos (the monotonic reading: a wall clock step back held
	// every message back for as long as it went back); 0 before the
	// first.
	tat int64
}

// Allow reports whether one more message may be sent at now, and takes
// it from the budget if so.
func (l *Limiter) Allow(now time.Time) bool {
	if l.Interval == 0 {
		return true
	}
	t := stack.Nanos(now)
	iv := int64(l.Interval)
	l.mu.Lock()
	defer l.mu.Unlock()
	tat := t
	if l.tat != 0 && l.tat > t {
		tat = l.tat
	}
	if tat-t > int64(l.Burst-1)*iv {
		return false
	}
	l.tat = tat + iv
	return true
}
