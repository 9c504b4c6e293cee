package tcp

import (
	"net"
	"os"
	"sync"
	"time"
)

// acceptDeadline is a Listener's deadline for Accept. Like a connection's
// deadlines (and net.TCPListener's) it is a wall-clock time: wake is
// closed when it passes or when SetDeadline replaces it, and a waiting
// Accept then looks again.
type acceptDeadline struct {
	mu     sync.Mutex
	t      time.Time     // zero: none
	wake   chan struct{} // nil until the first SetDeadline
	closed bool          // wake is closed
	timer  *time.Timer
}

// SetDeadline sets the deadline of Accept, like
// (*net.TCPListener).SetDeadline: once t has passed, Accept (also one
// already waiting) fails with a *net.OpError wrapping
// os.ErrDeadlineExceeded, whose Timeout method reports true. A zero t
// means no deadline. Connections that arrive meanwhile stay queued for a
// later Accept.
func (l *Listener) SetDeadline(t time.Time) error {
	if l.isClosed() {
		return &net.OpError{Op: "set", Net: l.network, Addr: l.tcpAddr, Err: net.ErrClosed}
	}
	d := &l.dl
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.wake != nil && !d.closed {
		close(d.wake) // waiters look at the new deadline
	}
	d.t, d.wake, d.closed = t, make(chan struct{}), false
	switch {
	case t.IsZero():
	case !time.Now().Before(t):
		close(d.wake)
		d.closed = true
	default:
		wake := d.wake
		d.timer = time.AfterFunc(time.Until(t), func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.wake == wake && !d.closed {
				close(wake)
				d.closed = true
			}
		})
	}
	return nil
}

// state returns the channel to wait on and whether the deadline has
// passed.
func (d *acceptDeadline) state() (wake <-chan struct{}, passed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.wake, !d.t.IsZero() && !time.Now().Before(d.t)
}

// accept waits for the next connection, the listener's close or its
// deadline.
func (l *Listener) accept() (*Conn, error) {
	for {
		wake, passed := l.dl.state()
		if passed {
			return nil, &net.OpError{Op: "accept", Net: l.network, Addr: l.tcpAddr, Err: os.ErrDeadlineExceeded}
		}
		select {
		case e := <-l.acceptq:
			return &Conn{e: e}, nil
		case <-l.done:
			return nil, &net.OpError{Op: "accept", Net: l.network, Addr: l.tcpAddr, Err: net.ErrClosed}
		case <-wake:
		}
	}
}
