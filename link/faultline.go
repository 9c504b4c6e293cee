package link

import (
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// delayLine is the delay and rate limit of one direction of a Faulty: a
// FIFO of frames with the time each may leave, and one timer armed for the
// head. Every field but sendMu and batch is guarded by the direction's mu.
type delayLine struct {
	dir     *faultDir
	clock   stack.Clock
	limit   int
	deliver func(*stack.Packet)

	// buf is a ring of n frames from head, growing up to limit.
	buf     []lineFrame
	head, n int
	// busyUntil is when the link has sent the last frame queued for it;
	// lastDue is when the last frame leaves the line (due times never go
	// backwards, so frames keep their order).
	busyUntil, lastDue time.Time

	timer   stack.Timer
	armed   bool // the timer is scheduled and its callback has not begun
	running int  // callbacks passing frames on
	closed  bool
	idle    sync.Cond // broadcast when armed or running drops after close

	// sendMu orders the callbacks: frames leave in the order they were
	// popped even if a re-armed timer fires while the previous callback
	// is still passing its batch on. batch is that batch (reused).
	sendMu sync.Mutex
	batch  []*stack.Packet
}

type lineFrame struct {
	p   *stack.Packet
	due time.Time
}

func newDelayLine(d *faultDir, clock stack.Clock, deliver func(*stack.Packet)) *delayLine {
	l := &delayLine{dir: d, clock: clock, limit: d.rates.Queue, deliver: deliver}
	if l.limit <= 0 {
		l.limit = DefaultFaultQueue
	}
	l.idle.L = &d.mu
	return l
}

// transmitTime is how long a frame of n bytes occupies a link of rate
// bits per second.
func transmitTime(n int, rate uint64) time.Duration {
	return time.Duration(uint64(n) * 8 * uint64(time.Second) / rate)
}

// push queues p, or drops it when the line is full or closed. The
// direction's mu must be held.
func (l *delayLine) push(p *stack.Packet) {
	if l.closed {
		p.Release()
		return
	}
	if l.n >= l.limit {
		l.dir.overflowed.Add(1)
		p.Release()
		return
	}
	r := &l.dir.rates
	now := l.clock.Now()
	due := now
	if r.Rate > 0 {
		if l.busyUntil.After(due) {
			due = l.busyUntil
		}
		due = due.Add(transmitTime(p.Len(), r.Rate))
		l.busyUntil = due
	}
	delay := r.Delay
	if r.Jitter > 0 {
		// Drawn only with a jitter, so that adding a plain delay keeps
		// the faults of a seed.
		delay += time.Duration(l.dir.rng.Int64N(2*int64(r.Jitter)+1)) - r.Jitter
		delay = max(delay, 0)
	}
	due = due.Add(delay)
	if due.Before(l.lastDue) {
		due = l.lastDue
	}
	l.lastDue = due
	if l.n == len(l.buf) {
		l.grow()
	}
	l.buf[(l.head+l.n)%len(l.buf)] = lineFrame{p, due}
	l.n++
	if !l.armed {
		l.arm(due.Sub(now))
	}
}

// grow doubles the ring, up to limit.
func (l *delayLine) grow() {
	size := min(max(2*len(l.buf), 16), l.limit)
	buf := make([]lineFrame, size)
	for i := range l.n {
		buf[i] = l.buf[(l.head+i)%len(l.buf)]
	}
	l.buf, l.head = buf, 0
}

// pop removes the head frame. The direction's mu must be held.
func (l *delayLine) pop() *stack.Packet {
	p := l.buf[l.head].p
	l.buf[l.head] = lineFrame{}
	l.head = (l.head + 1) % len(l.buf)
	l.n--
	return p
}

// arm schedules the timer d from now. The direction's mu must be held.
func (l *delayLine) arm(d time.Duration) {
	l.armed = true
	if l.timer == nil {
		l.timer = l.clock.AfterFunc(d, l.fire)
		return
	}
	l.timer.Reset(d)
}

// fire is the timer callback: it passes on every frame that is due, in
// order, and re-arms the timer for the next one.
func (l *delayLine) fire() {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	mu := &l.dir.mu
	mu.Lock()
	l.armed = false
	if l.closed {
		l.idle.Broadcast()
		mu.Unlock()
		return
	}
	now := l.clock.Now()
	for l.n > 0 && !l.buf[l.head].due.After(now) {
		l.batch = append(l.batch, l.pop())
	}
	if l.n > 0 {
		l.arm(l.buf[l.head].due.Sub(now))
	}
	deliver := l.deliver
	l.running++
	mu.Unlock()

	for i, p := range l.batch {
		if deliver != nil {
			deliver(p)
		} else {
			p.Release() // cannot happen: rx frames arrive only after Attach
		}
		l.batch[i] = nil
	}
	l.batch = l.batch[:0]

	mu.Lock()
	l.running--
	if l.closed {
		l.idle.Broadcast()
	}
	mu.Unlock()
}

// stop closes the line: it cancels the timer, waits for a callback that
// has begun, and releases the frames still waiting. The direction's mu
// must be held (stop waits on it).
func (l *delayLine) stop() {
	l.closed = true
	if l.armed && l.timer.Stop() {
		l.armed = false
	}
	// A timer that fired before Stop runs its callback, which sees closed
	// and clears armed; one that is passing frames on decrements running.
	for l.armed || l.running > 0 {
		l.idle.Wait()
	}
	for l.n > 0 {
		l.pop().Release()
	}
}
