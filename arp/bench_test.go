package arp_test

import (
	"testing"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

// BenchmarkWriteToHit measures a send through a REACHABLE entry; it must
// report 0 allocs/op.
func BenchmarkWriteToHit(b *testing.B) {
	f := newFixture(b, arp.Options{})
	f.send(peerIP, "x")
	f.reply(peerIP, peerMAC)
	f.link.Take()
	f.link.SetDiscard(true)
	// Warm the pool.
	p := stack.NewPacket(stack.Headroom, 64)
	p.Release()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p := stack.NewPacket(stack.Headroom, 64)
		if err := f.arp.WriteTo(f.nic, peerIP, stack.EtherTypeIPv4, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleRequest measures answering a request for our address
// (parse, cache update, reply built in a new packet).
func BenchmarkHandleRequest(b *testing.B) {
	f := newFixture(b, arp.Options{})
	f.link.SetDiscard(true)
	req := validARP()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.deliverRaw(req, peerMAC, stack.BroadcastMAC)
	}
}

// TestWriteToHitAllocs enforces the zero-allocation hit path in ordinary
// test runs, not only when benchmarks are run.
func TestWriteToHitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers at random")
	}
	f := newFixture(t, arp.Options{})
	f.send(peerIP, "x")
	f.reply(peerIP, peerMAC)
	f.link.Take()
	f.link.SetDiscard(true)
	allocs := testing.AllocsPerRun(1000, func() {
		f.arp.WriteTo(f.nic, peerIP, stack.EtherTypeIPv4, stack.NewPacket(stack.Headroom, 64))
	})
	if allocs != 0 {
		t.Fatalf("WriteTo hit allocates %v times per packet, want 0", allocs)
	}
}
