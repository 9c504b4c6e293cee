package udp

import (
	"sync"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// deadline is a read or write deadline on the stack's clock: a channel that
// is closed when the deadline passes. Extending a deadline keeps the same
// channel while it is open, so a blocked reader sees the new deadline.
type deadline struct {
	mu     sync.Mutex
	clock  stack.Clock
	timer  stack.Timer
	cancel chan struct{}
}

func newDeadline(c stack.Clock) deadline {
	return deadline{clock: c, cancel: make(chan struct{})}
}

// set arms the deadline at t; the zero time disables it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the callback is running or ran; wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := t.Sub(d.clock.Now()); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = d.clock.AfterFunc(dur, func() { close(c) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait returns a channel that is closed when the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool { return isClosed(d.wait()) }

// stop cancels a pending timer so that no callback outlives the conn.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel
	}
	d.timer = nil
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
