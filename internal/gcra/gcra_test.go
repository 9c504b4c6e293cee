package gcra

import (
	"testing"
	"time"
)

// TestLimiterBurstThenRate (RFC 4443 section 2.4 (f): a token bucket with
// a rate and a burst; Linux's icmp_ratelimit and icmp_msgs_burst): Burst
// messages at once, then one per Interval.
func TestLimiterBurstThenRate(t *testing.T) {
	l := &Limiter{Interval: 100 * time.Millisecond, Burst: 3}
	t0 := time.Unix(1_700_000_000, 0)
	for _, tt := range []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {0, true}, {0, true}, {0, false}, // the burst
		{99 * time.Millisecond, false},
		{100 * time.Millisecond, true}, {100 * time.Millisecond, false},
		{time.Second, true}, {time.Second, true}, {time.Second, true}, {time.Second, false},
	} {
		if got := l.Allow(t0.Add(tt.at)); got != tt.want {
			t.Fatalf("at +%v: Allow = %v, want %v", tt.at, got, tt.want)
		}
	}
}

// TestLimiterZeroAllowsAll: Interval 0 is no limit.
func TestLimiterZeroAllowsAll(t *testing.T) {
	var l Limiter
	for range 1000 {
		if !l.Allow(time.Unix(0, 0)) {
			t.Fatal("the zero Limiter refused")
		}
	}
}

// TestLimiterFirstMessageBeforeProcessStart: a virtual clock may read
// before the process started (stack.Nanos negative); the first message
// is still allowed, the unset state is not taken for a time.
func TestLimiterFirstMessageBeforeProcessStart(t *testing.T) {
	l := &Limiter{Interval: time.Second, Burst: 1}
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if !l.Allow(old) {
		t.Fatal("first message refused")
	}
	if l.Allow(old) {
		t.Fatal("second message within the interval allowed")
	}
}
