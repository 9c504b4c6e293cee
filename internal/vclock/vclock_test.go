package vclock

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

var _ stack.Clock = (*Clock)(nil)

func TestTimersFireInOrder(t *testing.T) {
	start := time.Unix(1000, 0)
	c := New(start)
	var got []string
	var at []time.Duration
	rec := func(name string) func() {
		return func() { got = append(got, name); at = append(at, c.Now().Sub(start)) }
	}
	c.AfterFunc(3*time.Second, rec("c"))
	c.AfterFunc(1*time.Second, rec("a"))
	b := c.AfterFunc(2*time.Second, rec("b"))
	c.AfterFunc(1*time.Second, rec("a2")) // same deadline: scheduling order
	stopped := c.AfterFunc(time.Second, rec("never"))
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop result")
	}
	c.Advance(1500 * time.Millisecond)
	if len(got) != 2 || got[0] != "a" || got[1] != "a2" {
		t.Fatalf("after 1.5s: %v", got)
	}
	if !b.Reset(time.Second) { // now due at 2.5s
		t.Fatal("Reset of a pending timer reported false")
	}
	c.Advance(10 * time.Second)
	want := []string{"a", "a2", "b", "c"}
	wantAt := []time.Duration{time.Second, time.Second, 2500 * time.Millisecond, 3 * time.Second}
	for i := range want {
		if got[i] != want[i] || at[i] != wantAt[i] {
			t.Fatalf("fired %v at %v, want %v at %v", got, at, want, wantAt)
		}
	}
	if c.Now().Sub(start) != 11500*time.Millisecond || c.Pending() != 0 {
		t.Fatalf("now %v pending %d", c.Now().Sub(start), c.Pending())
	}
}

func TestCallbackSchedulesWithinWindow(t *testing.T) {
	c := New(time.Unix(0, 0))
	n := 0
	var tick func()
	tick = func() {
		n++
		if n < 5 {
			c.AfterFunc(time.Second, tick)
		}
	}
	c.AfterFunc(time.Second, tick)
	c.Advance(3 * time.Second)
	if n != 3 {
		t.Fatalf("ran %d times in 3s, want 3", n)
	}
	for c.RunNext() {
	}
	if n != 5 || c.Now() != time.Unix(5, 0) {
		t.Fatalf("n=%d now=%v", n, c.Now())
	}
}
