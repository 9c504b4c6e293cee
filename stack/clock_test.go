package stack

import (
	"testing"
	"time"
)

// TestNanosDifferences: Nanos keeps the differences of times exactly,
// on the monotonic reading (time.Now's) and on the wall reading (a
// virtual clock's), and a time.Now reading is not before the process
// started.
func TestNanosDifferences(t *testing.T) {
	now := time.Now()
	if n := Nanos(now); n < 0 {
		t.Errorf("Nanos(time.Now()) = %d, before the process started", n)
	}
	for _, base := range []time.Time{now, time.Unix(1_700_000_000, 0), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		for _, d := range []time.Duration{0, time.Nanosecond, 5 * time.Second, -time.Hour} {
			if got := Nanos(base.Add(d)) - Nanos(base); got != int64(d) {
				t.Errorf("Nanos(%v + %v) - Nanos(%v) = %v", base, d, base, time.Duration(got))
			}
		}
	}
}
