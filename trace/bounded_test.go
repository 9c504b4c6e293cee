package trace

import (
	"context"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

// TestSlowReaderDropsAndSays: a session whose reader does not keep up
// never blocks the packet path: past QueueLen events it drops, counts and
// then says how many were lost.
func TestSlowReaderDropsAndSays(t *testing.T) {
	s := stack.New(stack.Options{})
	sess, detach := Attach(s, nil)
	defer detach()
	c := s.Counters().Get("ipv4.rx.bad_checksum")
	for range QueueLen + 10 {
		c.Inc()
	}
	if d := sess.Dropped(); d != 10 {
		t.Fatalf("dropped %d, want 10", d)
	}
	var out stacktest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- sess.Run(ctx, &out, cancel) }() // one burst, then stop
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if n := strings.Count(got, "counted ipv4.rx.bad_checksum: "); n != QueueLen {
		t.Errorf("%d events printed, want %d", n, QueueLen)
	}
	if !strings.Contains(got, "(10 events dropped: the reader was too slow)") {
		t.Errorf("no word of the dropped events:\n%s", got[len(got)-200:])
	}
}
