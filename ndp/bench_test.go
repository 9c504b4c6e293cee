package ndp_test

import (
	"testing"

	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

func reachableFixture(tb testing.TB) *fixture {
	f := newFixture(tb, ndp.Options{})
	f.send(peerIP, "x")
	f.na(peerIP, peerMAC, true, true, false)
	f.link.Take()
	f.link.SetDiscard(true)
	return f
}

// BenchmarkWriteToReachable measures the resolver's hot path, a send to a
// REACHABLE neighbour; it must report 0 allocs/op.
func BenchmarkWriteToReachable(b *testing.B) {
	f := reachableFixture(b)
	stack.NewPacket(stack.Headroom, 64).Release()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := f.ndp.WriteTo(f.nic, peerIP, stack.EtherTypeIPv6, stack.NewPacket(stack.Headroom, 64)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteToReachableAllocs enforces the zero-allocation hit path in
// ordinary test runs.
func TestWriteToReachableAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers at random")
	}
	f := reachableFixture(t)
	allocs := testing.AllocsPerRun(1000, func() {
		f.ndp.WriteTo(f.nic, peerIP, stack.EtherTypeIPv6, stack.NewPacket(stack.Headroom, 64))
	})
	if allocs != 0 {
		t.Fatalf("WriteTo to a REACHABLE neighbour allocates %v times per packet, want 0", allocs)
	}
}
