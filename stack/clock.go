package stack

import "time"

// Clock is the source of time for every timer in the stack: retransmission,
// ARP ageing, TIME_WAIT. Tests and simulations inject a virtual clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending call from Clock.AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it did.
	Stop() bool
	// Reset re-arms the timer to fire d from now; it reports whether the
	// timer had been active.
	Reset(d time.Duration) bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// monoBase is the origin of Nanos, read once with a monotonic reading.
var monoBase = time.Now()

// Nanos is t in nanoseconds since the process started, on t's monotonic
// reading when it has one (time.Now's times do; a virtual clock's may
// not, and then count on their wall reading, which only that clock
// moves). It is the number to keep for a time compared later (an atomic
// stamp, a rate limiter's theoretical arrival time): UnixNano there moves
// with every step of the wall clock (NTP at boot), which held back ICMP
// errors, UDP flows' expiry or a bond's ARP verdicts for as long as the
// clock went back.
func Nanos(t time.Time) int64 { return int64(t.Sub(monoBase)) }
