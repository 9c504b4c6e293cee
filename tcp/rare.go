package tcp

import (
	"sync"
	"time"
)

// rare is what few connections need, or need only for a while: the read
// and write deadlines with the timers that wake the waiters (most
// connections never set one), the channel a Dial waits on (only while the
// handshake is under way) and the TryWriter of a WriteTo (only while it
// runs). They live apart from the endpoint, which holds a pointer, nil
// while none is needed: an idle connection pays 8 bytes for them, not 24.
// The endpoint takes one from a pool when it needs it (takeRare) and gives
// it back when nothing in it is set any more (dropRare); a deadline's
// timer, once made, is kept for the next deadline, and with it the rare
// part, as the deadlines' own struct was before. It changes under the
// endpoint's lock, or, for Dial's channel, before the endpoint is shared.
type rare struct {
	rd, wr           time.Time
	rdTimer, wrTimer *time.Timer
	// dialDone, made by Dial and a forwarder's Accept only (startDial),
	// is closed when the handshake ends, either way (endDial), and then
	// forgotten: the waiter has its own copy.
	dialDone chan struct{}
	// inl is the TryWriter of a WriteTo in progress, written to at the
	// end of a batch (trywriter.go); nil when there is none.
	inl *inlineWriter
}

// rares are the rare parts connections let go of, all zero: every Dial
// takes one for its handshake, and with the pool that costs it no
// allocation more than the channel it always made.
var rares = sync.Pool{New: func() any { return new(rare) }}

// takeRare returns e's rare part, taken from the pool if it has none.
func (e *endpoint) takeRare() *rare {
	if e.rare == nil {
		e.rare = rares.Get().(*rare)
	}
	return e.rare
}

// dropRare gives e's rare part back when nothing in it is set.
func (e *endpoint) dropRare() {
	if r := e.rare; r != nil && *r == (rare{}) {
		e.rare = nil
		rares.Put(r)
	}
}

// startDial makes the channel endDial closes when e's handshake ends and
// returns it, for Dial or a forwarder's Accept to wait on. e is not shared
// yet.
func (e *endpoint) startDial() <-chan struct{} {
	done := make(chan struct{})
	e.takeRare().dialDone = done
	return done
}

// inl is the TryWriter of a WriteTo in progress, nil when there is none.
func (e *endpoint) inl() *inlineWriter {
	if e.rare == nil {
		return nil
	}
	return e.rare.inl
}

// rdDeadline and wrDeadline are the deadlines, zero when unset.
func (e *endpoint) rdDeadline() time.Time {
	if e.rare == nil {
		return time.Time{}
	}
	return e.rare.rd
}

func (e *endpoint) wrDeadline() time.Time {
	if e.rare == nil {
		return time.Time{}
	}
	return e.rare.wr
}
