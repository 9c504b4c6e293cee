package tcp

import (
	"runtime"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// handClock is a wall clock whose timers fire only when the test says:
// fire makes a timer's call due (Stop can no longer prevent it), and the
// test makes the call when it chooses, as the runtime's goroutine would.
type handClock struct{ timers []*handTimer }

type handTimer struct {
	f      func()
	active bool
}

func (*handClock) Now() time.Time { return time.Now() }

func (c *handClock) AfterFunc(_ time.Duration, f func()) stack.Timer {
	t := &handTimer{f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *handTimer) Stop() bool {
	was := t.active
	t.active = false
	return was
}

func (t *handTimer) Reset(time.Duration) bool {
	was := t.active
	t.active = true
	return was
}

// fire takes an armed timer's call out of the test's hands: it is under
// way, and f makes it.
func (t *handTimer) fire(tb testing.TB) (f func()) {
	tb.Helper()
	if !t.active {
		tb.Fatal("firing a timer that is not armed")
	}
	t.active = false
	return t.f
}

// ackAll hands e an ACK of everything it sent and runs what follows, as
// the path of arriving segments does.
func ackAll(e *endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	e.c.handleSegment(now, ack(e.c.rcvNxt, e.c.sndMax))
	e.afterCore(now)
}

// TestIdleConnectionGivesTimerBack: a connection holds a clock timer
// while something is due (here its retransmission timeout) and gives it
// back to the protocol's pool once everything is acknowledged; the next
// answer takes it again, armed. It runs on one P, whose pool the give
// fills (another P's cannot take it); the race detector's sync.Pool drops
// some of what it is given, so the count of timers made is not checked
// under it.
func TestIdleConnectionGivesTimerBack(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	clk := &handClock{}
	_, c, _, _, _ := handConnClock(t, &sinkIP{}, Options{}, clk, "10.0.0.2/24", "10.0.0.1")
	e := c.e
	for round := range 3 {
		if _, err := c.Write([]byte("answer")); err != nil {
			t.Fatal(err)
		}
		e.mu.Lock()
		b := e.timer
		e.mu.Unlock()
		if b == nil || b.n != 1 || !b.t.(*handTimer).active {
			t.Fatalf("round %d: data in flight without an armed timer (%+v)", round, b)
		}
		ackAll(e)
		e.mu.Lock()
		held := e.timer
		e.mu.Unlock()
		if held != nil || b.t.(*handTimer).active {
			t.Fatalf("round %d: idle connection kept its timer (armed %v)", round, b.t.(*handTimer).active)
		}
	}
	if !raceEnabled && len(clk.timers) != 1 {
		t.Fatalf("%d clock timers made for 3 answers, want one, taken from the pool again", len(clk.timers))
	}
}

// TestTimerUnderWayNotGivenBack: a connection that goes idle while a
// firing of its timer is under way (due, its call not yet past the lock)
// keeps the timer until that call has run, so the call never reaches
// another connection that took the timer from the pool.
func TestTimerUnderWayNotGivenBack(t *testing.T) {
	clk := &handClock{}
	_, c, _, _, _ := handConnClock(t, &sinkIP{}, Options{}, clk, "10.0.0.2/24", "10.0.0.1")
	e := c.e
	if _, err := c.Write([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	b := e.timer
	e.mu.Unlock()
	call := b.t.(*handTimer).fire(t)
	ackAll(e) // idle now: nothing due
	e.mu.Lock()
	kept, n := e.timer == b, b.n
	e.mu.Unlock()
	if !kept || n != 1 {
		t.Fatalf("with a firing under way: timer kept %v, firings counted %d; want kept, 1", kept, n)
	}
	call() // the firing reaches e, finds nothing due
	e.mu.Lock()
	held, n := e.timer, b.n
	e.mu.Unlock()
	if held != nil || n != 0 || b.e != nil {
		t.Fatalf("after the firing: timer held %v, firings %d, owner %v; want given back", held != nil, n, b.e)
	}
}
