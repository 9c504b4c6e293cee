// Package vclock is a virtual stack.Clock for tests and simulations: time
// stands still until the test advances it, and due timers then run in
// deadline order on the advancing goroutine, so a 60-second TIME_WAIT costs
// no wall time and every run with the same inputs is the same.
package vclock

import (
	"container/heap"
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// Clock is a manual clock. The zero value is not usable; call New.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	seq   uint64
	queue timerHeap
}

// New returns a clock reading start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run when the clock is advanced d or more.
func (c *Clock) AfterFunc(d time.Duration, f func()) stack.Timer {
	t := &timer{c: c, f: f, index: -1}
	c.mu.Lock()
	c.schedule(t, d)
	c.mu.Unlock()
	return t
}

func (c *Clock) schedule(t *timer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	c.seq++
	t.when, t.seq = c.now.Add(d), c.seq
	heap.Push(&c.queue, t)
}

// Advance moves time forward by d, running every timer that falls due, in
// deadline order, with Now reading each timer's deadline while it runs.
// Timers that callbacks schedule within the window run too.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	c.AdvanceTo(end)
}

// AdvanceTo moves time forward to t (never backward), running due timers.
func (c *Clock) AdvanceTo(t time.Time) {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.queue[0].when.After(t) {
			if t.After(c.now) {
				c.now = t
			}
			c.mu.Unlock()
			return
		}
		next := heap.Pop(&c.queue).(*timer)
		if next.when.After(c.now) {
			c.now = next.when
		}
		f := next.f
		c.mu.Unlock()
		f()
	}
}

// Next returns the deadline of the earliest pending timer; ok is false when
// none is pending.
func (c *Clock) Next() (when time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return time.Time{}, false
	}
	return c.queue[0].when, true
}

// RunNext advances to the earliest pending timer and runs it (and any
// others due at the same instant). It reports false when none was pending.
func (c *Clock) RunNext() bool {
	when, ok := c.Next()
	if ok {
		c.AdvanceTo(when)
	}
	return ok
}

// Pending reports how many timers are scheduled.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

type timer struct {
	c     *Clock
	f     func()
	when  time.Time
	seq   uint64
	index int // position in the heap, -1 when not scheduled
}

// Stop unschedules the timer; it reports whether it was pending.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.queue, t.index)
	return true
}

// Reset reschedules the timer d from now; it reports whether it was pending.
func (t *timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.index >= 0
	if was {
		heap.Remove(&t.c.queue, t.index)
	}
	t.c.schedule(t, d)
	return was
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
