package arp_test

// The neighbour cache: retries, queues, aging, bounds, malformed input and Close.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

func TestRetriesThenFailure(t *testing.T) {
	f := newFixture(t, arp.Options{})
	f.send(peerIP, "first")
	f.send(peerIP, "second")
	if got := len(f.link.Take()); got != 1 {
		t.Fatalf("%d frames at start, want 1 request", got)
	}
	// Two retransmissions, one second apart.
	for i := 0; i < 2; i++ {
		f.clk.Advance(999 * time.Millisecond)
		if got := len(f.link.Take()); got != 0 {
			t.Fatalf("retry %d came early", i)
		}
		f.clk.Advance(time.Millisecond)
		frames := f.link.Take()
		if len(frames) != 1 || frames[0].Dst != stack.BroadcastMAC || decodeARP(t, frames[0]).TargetIP != peerIP {
			t.Fatalf("retry %d: frames %+v", i, frames)
		}
		if fs := f.ip.TakeFailures(); len(fs) != 0 {
			t.Fatalf("failed early: %+v", fs)
		}
	}
	// One more RetransTime with no answer: give up.
	f.clk.Advance(time.Second)
	if got := f.link.Take(); len(got) != 0 {
		t.Fatalf("sent %d more frames after MaxProbes", len(got))
	}
	fs := f.ip.TakeFailures()
	if len(fs) != 2 || fs[0].NextHop != peerIP || string(fs[0].Data) != "first" || string(fs[1].Data) != "second" {
		t.Fatalf("resolution failures %+v, want first and second for %v", fs, peerIP)
	}
	if e, _ := f.entry(peerIP); e.State != arp.Failed || e.Queued != 0 {
		t.Fatalf("entry %+v, want FAILED", e)
	}
	if got := f.counter("arp.tx.unresolved"); got != 2 {
		t.Errorf("arp.tx.unresolved = %d, want 2", got)
	}

	// A new send retries at once (as Linux does).
	f.send(peerIP, "third")
	if frames := f.link.Take(); len(frames) != 1 || decodeARP(t, frames[0]).TargetIP != peerIP {
		t.Fatalf("send to FAILED entry sent %+v, want a new request", frames)
	}
	if e, _ := f.entry(peerIP); e.State != arp.Incomplete || e.Queued != 1 {
		t.Fatalf("entry %+v, want INCOMPLETE with 1 queued", e)
	}
	f.reply(peerIP, peerMAC)
	if frames := f.link.Take(); len(frames) != 1 || string(frames[0].Data) != "third" {
		t.Fatalf("flushed %+v", frames)
	}
}

func TestFailedEntryIsCollected(t *testing.T) {
	f := newFixture(t, arp.Options{})
	f.send(peerIP, "x")
	f.clk.Advance(3 * time.Second)
	f.ip.TakeFailures()
	if e, _ := f.entry(peerIP); e.State != arp.Failed {
		t.Fatalf("entry %+v, want FAILED", e)
	}
	f.clk.Advance(arp.DefaultGCStaleTime)
	if e, ok := f.entry(peerIP); ok {
		t.Fatalf("FAILED entry %+v still there after GCStaleTime", e)
	}
	if n := f.clk.Pending(); n != 0 {
		t.Fatalf("%d timers still armed", n)
	}
}

// sizedPayload is packet i of a queue test: its number, padded to size
// bytes.
func sizedPayload(i, size int) string {
	s := fmt.Sprint(i, ":")
	return s + strings.Repeat("x", max(size-len(s), 0))
}

func TestQueueOverflowDropsOldest(t *testing.T) {
	small := func(n int) []int { // n packets of 10 bytes
		sizes := make([]int, n)
		for i := range sizes {
			sizes[i] = 10
		}
		return sizes
	}
	tests := []struct {
		name  string
		opts  arp.Options
		sizes []int // the packets sent, in order
		kept  []int // the indices flushed after the reply
	}{
		{"defaults keep 8 small", arp.Options{}, small(8), []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{"default packet cap", arp.Options{}, small(arp.DefaultQueueLen + 5), indices(5, arp.DefaultQueueLen+5)},
		{"QueueLen=1", arp.Options{QueueLen: 1}, small(8), []int{7}},
		{"QueueLen=5", arp.Options{QueueLen: 5}, small(8), []int{3, 4, 5, 6, 7}},
		{"QueueBytes=25", arp.Options{QueueBytes: 25}, small(8), []int{6, 7}},
		{"bytes only", arp.Options{QueueBytes: 10_000, QueueLen: -1}, small(900), indices(0, 900)},
		// A packet over the limit on its own waits alone; the next one
		// pushes it out.
		{"oversize", arp.Options{QueueBytes: 25}, []int{10, 10, 10, 40, 5}, []int{4}},
		{"default bytes", arp.Options{}, []int{60_000, 60_000, 60_000, 60_000, 2}, []int{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			for i, size := range tt.sizes {
				if err := f.send(peerIP, sizedPayload(i, size)); err != nil {
					t.Fatal(err)
				}
			}
			wantBytes := 0
			for _, i := range tt.kept {
				wantBytes += tt.sizes[i]
			}
			if e, _ := f.entry(peerIP); e.Queued != len(tt.kept) || e.QueuedBytes != wantBytes {
				t.Fatalf("queued %d packets, %d bytes; want %d, %d", e.Queued, e.QueuedBytes, len(tt.kept), wantBytes)
			}
			if got, want := f.counter("arp.tx.queue_overflow"), uint64(len(tt.sizes)-len(tt.kept)); got != want {
				t.Errorf("arp.tx.queue_overflow = %d, want %d", got, want)
			}
			f.link.Take()
			f.reply(peerIP, peerMAC)
			frames := f.link.Take()
			if len(frames) != len(tt.kept) {
				t.Fatalf("flushed %d, want %d", len(frames), len(tt.kept))
			}
			for j, fr := range frames {
				if want := sizedPayload(tt.kept[j], tt.sizes[tt.kept[j]]); string(fr.Data) != want {
					t.Errorf("flushed[%d] = %.20q, want %.20q (the newest survive, in order)", j, fr.Data, want)
				}
			}
			if e, _ := f.entry(peerIP); e.Queued != 0 || e.QueuedBytes != 0 {
				t.Errorf("after the reply: queued %d, %d bytes", e.Queued, e.QueuedBytes)
			}
		})
	}
}

// indices returns from, from+1, ..., to-1.
func indices(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestReachableBecomesStaleAndIsCollected(t *testing.T) {
	f := newFixture(t, arp.Options{})
	f.send(peerIP, "x")
	f.reply(peerIP, peerMAC)
	f.link.Take()

	f.clk.Advance(arp.DefaultReachableTime - time.Millisecond)
	if e, _ := f.entry(peerIP); e.State != arp.Reachable {
		t.Fatalf("entry %+v, want still REACHABLE", e)
	}
	f.clk.Advance(time.Millisecond)
	if e, _ := f.entry(peerIP); e.State != arp.Stale || e.MAC != peerMAC {
		t.Fatalf("entry %+v, want STALE", e)
	}
	// Unused for GCStaleTime: removed.
	f.clk.Advance(arp.DefaultGCStaleTime - time.Millisecond)
	f.checkState(arp.Stale)
	f.clk.Advance(time.Millisecond)
	if e, ok := f.entry(peerIP); ok {
		t.Fatalf("unused STALE entry %+v kept", e)
	}
	// (A STALE entry in use goes to DELAY: see TestDelayProbeFailed.)
	// A new reply refreshes REACHABLE from any state.
	f.send(peerIP, "again")
	f.reply(peerIP, peerMAC)
	f.clk.Advance(arp.DefaultReachableTime / 2)
	f.reply(peerIP, peerMAC)
	f.clk.Advance(arp.DefaultReachableTime / 2)
	if e, _ := f.entry(peerIP); e.State != arp.Reachable {
		t.Fatalf("entry %+v, want REACHABLE (refreshed by the second reply)", e)
	}
}

func TestCacheBoundUnderRequestFlood(t *testing.T) {
	const limit = 64
	f := newFixture(t, arp.Options{CacheSize: limit})
	f.link.SetDiscard(true)
	// A resolution in progress must survive the flood.
	f.send(peerIP, "precious")
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 100_000
	for i := range n {
		src := netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		mac := stack.MAC{0x02, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 0x77}
		target := ourIP
		if i%2 == 1 {
			target = netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + rng.IntN(100))})
		}
		f.request(src, mac, target)
		if i%1000 == 0 {
			if got := len(f.arp.Entries()); got > limit {
				t.Fatalf("after %d requests the cache has %d entries, limit %d", i, got, limit)
			}
		}
	}
	if got := len(f.arp.Entries()); got > limit {
		t.Fatalf("cache has %d entries, limit %d", got, limit)
	}
	if got := f.counter("arp.tx.replies"); got != n/2 {
		t.Fatalf("answered %d requests for us, want %d", got, n/2)
	}
	if e, ok := f.entry(peerIP); !ok || e.State != arp.Incomplete || e.Queued != 1 {
		t.Fatalf("resolution in progress lost: %+v %v", e, ok)
	}
	if f.counter("arp.cache.evicted") == 0 {
		t.Fatal("nothing evicted")
	}
	f.link.SetDiscard(false)
	f.reply(peerIP, peerMAC)
	if frames := f.link.Take(); len(frames) != 1 || string(frames[0].Data) != "precious" {
		t.Fatalf("flushed %+v", frames)
	}
}

func TestCacheFullOfUnevictableEntries(t *testing.T) {
	f := newFixture(t, arp.Options{CacheSize: 2})
	f.send(netip.MustParseAddr("10.0.0.11"), "a")
	f.send(netip.MustParseAddr("10.0.0.12"), "b")
	before := stack.LivePackets()
	err := f.send(netip.MustParseAddr("10.0.0.13"), "c")
	if !errors.Is(err, syscall.ENOBUFS) {
		t.Fatalf("third resolution: %v, want ENOBUFS", err)
	}
	if stack.LivePackets() != before {
		t.Fatal("the refused packet was not released")
	}
	// A request for us is still answered, just not learnt.
	f.link.Take()
	f.request(otherIP, otherMAC, ourIP)
	if frames := f.link.Take(); len(frames) != 1 {
		t.Fatalf("request not answered with a full cache: %+v", frames)
	}
	if _, ok := f.entry(otherIP); ok {
		t.Fatal("learnt into a full cache")
	}
	if f.counter("arp.tx.cache_full") != 1 || f.counter("arp.rx.cache_full") != 1 {
		t.Fatalf("cache_full counters tx %d rx %d", f.counter("arp.tx.cache_full"), f.counter("arp.rx.cache_full"))
	}
	// Once one fails it becomes evictable.
	f.clk.Advance(3 * time.Second)
	f.ip.TakeFailures()
	if err := f.send(netip.MustParseAddr("10.0.0.13"), "c"); err != nil {
		t.Fatalf("resolution after eviction: %v", err)
	}
}

func TestWriteToInvalidNextHop(t *testing.T) {
	f := newFixture(t, arp.Options{})
	for _, a := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.MustParseAddr("224.0.0.1"), netip.MustParseAddr("::1")} {
		if err := f.send(a, "x"); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("WriteTo(%v) = %v, want EINVAL", a, err)
		}
	}
	if n := len(f.arp.Entries()); n != 0 {
		t.Fatalf("%d entries", n)
	}
}

func TestMalformedCounted(t *testing.T) {
	tests := []struct {
		name    string
		b       func() []byte
		counter string
	}{
		{"short", func() []byte { return validARP()[:20] }, "arp.rx.malformed"},
		{"empty", func() []byte { return nil }, "arp.rx.malformed"},
		{"token ring", func() []byte { b := validARP(); b[1] = 6; return b }, "arp.rx.malformed"},
		{"IPv6 protocol", func() []byte { b := validARP(); b[2] = 0x86; return b }, "arp.rx.malformed"},
		{"hlen", func() []byte { b := validARP(); b[4] = 0; return b }, "arp.rx.malformed"},
		{"plen", func() []byte { b := validARP(); b[5] = 6; return b }, "arp.rx.malformed"},
		{"RARP op", func() []byte { b := validARP(); b[7] = 3; return b }, "arp.rx.unknown_op"},
		{"multicast sender MAC", func() []byte { b := validARP(); b[8] = 0x01; return b }, "arp.rx.bad_address"},
		{"zero sender MAC", func() []byte { b := validARP(); clear(b[8:14]); return b }, "arp.rx.bad_address"},
		{"multicast target IP", func() []byte { b := validARP(); b[24] = 224; return b }, "arp.rx.bad_address"},
		{"loopback sender IP", func() []byte { b := validARP(); b[14] = 127; return b }, "arp.rx.bad_address"},
		{"broadcast sender IP", func() []byte { b := validARP(); copy(b[14:18], []byte{255, 255, 255, 255}); return b }, "arp.rx.bad_address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, arp.Options{})
			f.deliverRaw(tc.b(), peerMAC, stack.BroadcastMAC)
			if got := f.counter(tc.counter); got != 1 {
				t.Errorf("%s = %d, want 1", tc.counter, got)
			}
			if frames := f.link.Take(); len(frames) != 0 {
				t.Errorf("answered a bad packet: %+v", frames)
			}
			if n := len(f.arp.Entries()); n != 0 {
				t.Errorf("learnt from a bad packet: %+v", f.arp.Entries())
			}
		})
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	f := newFixture(t, arp.Options{})
	for i := range 20 {
		f.send(netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i%7)}), "queued")
	}
	f.send(peerIP, "x")
	f.reply(peerIP, peerMAC)
	f.link.Take()
	if stack.LivePackets() == f.start {
		t.Fatal("expected queued packets before Close")
	}
	if err := f.arp.Close(); err != nil {
		t.Fatal(err)
	}
	if n := stack.LivePackets() - f.start; n != 0 {
		t.Fatalf("%d packets still live after Close", n)
	}
	if n := f.clk.Pending(); n != 0 {
		t.Fatalf("%d timers still armed after Close", n)
	}
	if len(f.arp.Entries()) != 0 {
		t.Fatal("entries survive Close")
	}
	if err := f.send(peerIP, "late"); !errors.Is(err, stack.ErrClosed) {
		t.Fatalf("WriteTo after Close = %v, want ErrClosed", err)
	}
	f.request(otherIP, otherMAC, ourIP)
	f.clk.Advance(time.Hour)
	if frames := f.link.Take(); len(frames) != 0 {
		t.Fatalf("sent %d frames after Close", len(frames))
	}
	if fs := f.ip.TakeFailures(); len(fs) != 0 {
		t.Fatalf("resolution failures after Close: %+v", fs)
	}
	if n := stack.LivePackets() - f.start; n != 0 {
		t.Fatalf("%d packets leaked after Close", n)
	}
	if err := f.arp.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
