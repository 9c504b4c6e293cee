package stacktest

import (
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// CheckLeaks notes the number of live packets (stack.LivePackets) now and,
// when tb ends, fails it if the number differs. Call it before anything
// that registers the cleanup closing the stack: cleanups run last first,
// so the count is taken after the stack closed. A test that has already
// failed is not checked (it may have stopped before releasing what it
// held, or skipped closing a stack it thinks deadlocked).
func CheckLeaks(tb testing.TB) {
	tb.Helper()
	start := stack.LivePackets()
	tb.Cleanup(func() {
		if tb.Failed() {
			return
		}
		if n := stack.LivePackets() - start; n != 0 {
			tb.Errorf("%d packets leaked", n)
		}
	})
}

// CloseStack closes s, failing tb if Close returns an error or if any of
// stopped (the Done channels of goroutines the stack owns) is still open
// once Close has returned.
func CloseStack(tb testing.TB, s *stack.Stack, stopped ...<-chan struct{}) {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Errorf("Close: %v", err)
	}
	for i, done := range stopped {
		select {
		case <-done:
		default:
			tb.Errorf("goroutine %d still running after Close", i)
		}
	}
}

// TakeOne takes the recorded frames and returns the only one, failing tb
// unless there is exactly one and it has the given EtherType.
func (l *Link) TakeOne(tb testing.TB, etherType uint16) Frame {
	tb.Helper()
	fs := l.Take()
	if len(fs) != 1 {
		tb.Fatalf("link sent %d frames, want 1", len(fs))
	}
	if fs[0].EtherType != etherType {
		tb.Fatalf("EtherType %#04x, want %#04x", fs[0].EtherType, etherType)
	}
	return fs[0]
}
