package tcp

import (
	"math"
	"testing"
	"time"
)

// TestKeepaliveTimesInMilliseconds checks the connection's 32-bit
// keepalive times (kaMillis): whole milliseconds rounded up, so that no
// period becomes zero, and bounded at 2^32-1 ms rather than wrapped; a
// period set with SetKeepAlivePeriod reads back through kaIdle and
// kaIntvl.
func TestKeepaliveTimesInMilliseconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want uint32
	}{
		{time.Nanosecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{75 * time.Second, 75_000},
		{2 * time.Hour, 7_200_000},
		{60 * 24 * time.Hour, 1<<32 - 1},
		{math.MaxInt64, 1<<32 - 1}, // "forever": rounding up must not wrap
	} {
		if got := kaMillis(tt.d); got != tt.want {
			t.Errorf("kaMillis(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
	c := establishedCore(t)
	if c.kaIdle() != 2*time.Hour || c.kaIntvl() != 75*time.Second {
		t.Fatalf("defaults: idle %v interval %v, want 2h0m0s and 1m15s (RFC 1122 4.2.3.6, Linux)", c.kaIdle(), c.kaIntvl())
	}
	c.setKeepAlivePeriod(t0, 90*time.Second)
	if c.kaIdle() != 90*time.Second || c.kaIntvl() != 90*time.Second {
		t.Fatalf("after SetKeepAlivePeriod(90s): idle %v interval %v", c.kaIdle(), c.kaIntvl())
	}
}
