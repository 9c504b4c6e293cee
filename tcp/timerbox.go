package tcp

import (
	"math"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// A connection's clock timer is lent to it while it has something due and
// goes back to its protocol's pool when it is idle: an idle server holds
// thousands of connections, and a timer is some 110 bytes of the runtime's
// that an idle connection has no use for. A request and its answer take
// the timer from the pool and give it back, allocating nothing.

// timerBox is a clock timer and the connection it fires for. n counts the
// firings due or under way (armed, or fired with their call not yet past
// the connection's lock): the box goes back to the pool only when there
// is none, so a firing always reaches the connection that armed it. at is
// the deadline the timer is armed for, as a stamp of the connection's
// (armTimer); 0: not armed. It is here, not in the endpoint, as it is set
// only while the connection holds the box: an idle connection saves its
// 8 bytes. e, n and at change under that connection's lock.
type timerBox struct {
	e  *endpoint
	t  stack.Timer
	n  int
	at stamp
}

func (b *timerBox) fire() { b.e.onTimer() }

// takeTimer gives e a stopped timer if it has none: from the path of
// arriving segments, ahead of the answer the application will write, so
// that its goroutine does not take one from the pool itself (the pool's
// slow paths would grow its 2 KiB stack for good; see afterUser).
func (e *endpoint) takeTimer() {
	if e.timer != nil {
		return
	}
	b, _ := e.p.timers.Get().(*timerBox)
	if b == nil {
		b = &timerBox{}
		b.t = e.p.clock.AfterFunc(math.MaxInt64, b.fire)
		b.t.Stop()
	}
	b.e = e
	e.timer = b
}

// resetTimer arms e's timer to fire in d, for the deadline at.
func (e *endpoint) resetTimer(d time.Duration, at stamp) {
	e.takeTimer()
	b := e.timer
	b.at = at
	// A timer that was armed has its firing moved (still one due); one
	// that was not, or had fired, has one more. A clock that says its
	// timers are always armed (the fuzzers' frozen clock) counts one.
	if !b.t.Reset(d) || b.n == 0 {
		b.n++
	}
}

// stopTimer stops e's timer; a firing already under way still comes.
// The timer is armed for nothing any more.
func (e *endpoint) stopTimer() {
	if b := e.timer; b != nil {
		b.at = 0
		if b.t.Stop() && b.n > 0 {
			b.n--
		}
	}
}

// firedTimer counts a firing of e's timer as past the lock (onTimer).
// The timer is armed for nothing any more: the connection re-arms it
// after looking at what is due.
func (e *endpoint) firedTimer() {
	if b := e.timer; b != nil {
		b.at = 0
		if b.n > 0 {
			b.n--
		}
	}
}

// armedAt is the deadline e's timer is armed for, as a stamp of e.c; 0
// when it is armed for nothing (or e holds no timer).
func (e *endpoint) armedAt() stamp {
	if e.timer == nil {
		return 0
	}
	return e.timer.at
}

// giveTimer returns e's timer to the pool when no firing is due or under
// way.
func (e *endpoint) giveTimer() {
	if b := e.timer; b != nil && b.n == 0 {
		e.timer, b.e, b.at = nil, nil, 0
		e.p.timers.Put(b)
	}
}
