package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/tapstack/tapstack/tcp"
)

// Giving memory back after load. Go returns freed heap to the kernel only
// slowly (its background scavenger), and a heap full of dead connection
// state is not even freed until the next garbage collection, which an idle
// process may not run for two minutes. After an attack of thousands of
// connections the process kept 1.2 GB resident for more than five minutes
// (issue 13). `up` therefore samples its load every reclaimSample and,
// when the load fell a lot since its peak or garbage waits in a quiet
// process (reclaimDue), runs a garbage
// collection and debug.FreeOSMemory (a second one, which also empties the
// sync.Pools' victim caches, and returns every free page at once), at
// most once per reclaimEvery.

const (
	reclaimSample = 2 * time.Second
	reclaimEvery  = 10 * time.Second
	// reclaimHeapDrop is how far the live heap must fall below its peak:
	// a quarter of the attack budget (64 MiB over baseline), so what an
	// ended attack leaves is returned while it still matters. With 32 MiB
	// the decision did not fire after 1,000 chargen clients left (RSS
	// stayed 55.8 MiB over baseline a minute later, issue 13).
	reclaimHeapDrop = 16 << 20
	// reclaimQuiet: a heap that grew less than this in one sample belongs
	// to an idle process, which runs no collection of its own.
	reclaimQuiet = 1 << 20
	// reclaimFree is how much free, unreturned heap is worth returning.
	reclaimFree = 16 << 20
	// reclaimGoroutineDrop: every connection of a service runs one or two
	// goroutines, so their number is the load the heap lags behind. The
	// services' cap (--max-conns 256) runs 256 to 512 of them, so the
	// threshold is a quarter of that.
	reclaimGoroutineDrop = 64
	// reclaimSettle: goroutines falling by this many between two samples
	// are connections still ending.
	reclaimSettle = 8
)

// memLoad is one sample of the process's load.
type memLoad struct {
	// Heap is the heap in objects (live, or dead but not yet collected).
	Heap uint64
	// Free is heap memory that is free but not returned to the kernel.
	Free uint64
	// Goroutines is the number of goroutines.
	Goroutines int
	// Base is the heap right after the last reclaim (or at the start):
	// Heap - Base is what was allocated since, mostly garbage after a
	// load has gone. (The live heap of the last collection is no
	// baseline: a collection during an attack sees the attack's buffers
	// live; after 1,000 chargen clients it left 44 MiB of garbage within
	// 16 MiB of it.)
	Base uint64
	// Buffers is the memory TCP buffers take (tcp.Protocol.MemoryInUse).
	// Unlike Heap it falls as soon as connections end, without waiting
	// for a garbage collection that an idle process does not run: after
	// 300 header-line connections ended, Heap stayed at its peak and RSS
	// 54 MiB over baseline for a minute.
	Buffers uint64
}

// reclaimDue reports whether to return memory now: at least reclaimEvery
// after the last time (last), when the heap or the TCP buffers fell
// reclaimHeapDrop below the peak since then, the heap is reclaimHeapDrop
// over its size after the last reclaim and the process is quiet (the heap
// grew less than reclaimQuiet since the previous sample, prev; a load that comes and goes
// between two samples shows no drop at all: after 300 header-line
// connections, 52 MiB of garbage waited and no collection ran for
// minutes), the goroutines fell by reclaimGoroutineDrop to at most half
// their peak (connections ended; their garbage is not collected yet), or
// reclaimFree bytes of free heap wait to be returned. A fall counts only
// once it has settled (the TCP buffers fell less than reclaimQuiet and the
// goroutines by fewer than reclaimSettle since prev): a reclaim while
// connections are still ending finds their state live (after 1,000
// chargen clients left, one such reclaim left RSS 13.1 MiB over baseline).
func reclaimDue(peak, prev, cur memLoad, last, now time.Time) bool {
	if now.Sub(last) < reclaimEvery {
		return false
	}
	settled := cur.Buffers+reclaimQuiet >= prev.Buffers && cur.Goroutines+reclaimSettle >= prev.Goroutines
	fell := peak.Heap >= cur.Heap+reclaimHeapDrop ||
		peak.Buffers >= cur.Buffers+reclaimHeapDrop ||
		(peak.Goroutines >= cur.Goroutines+reclaimGoroutineDrop && cur.Goroutines <= peak.Goroutines/2)
	return (fell && settled) ||
		(cur.Heap >= cur.Base+reclaimHeapDrop && cur.Heap <= prev.Heap+reclaimQuiet) ||
		cur.Free >= reclaimFree
}

// maxLoad is the element-wise maximum of a and b.
func maxLoad(a, b memLoad) memLoad {
	return memLoad{Heap: max(a.Heap, b.Heap), Free: max(a.Free, b.Free), Goroutines: max(a.Goroutines, b.Goroutines), Buffers: max(a.Buffers, b.Buffers)}
}

// reclaimer samples the load and returns memory when reclaimDue says so.
type reclaimer struct {
	samples []metrics.Sample
	peak    memLoad
	prev    memLoad
	base    uint64
	last    time.Time
	// followUp says the last reclaim was for a fall of the load, so one
	// more is due reclaimEvery after it (see step).
	followUp bool
	// buffers returns the TCP buffer memory in use (nil: none).
	buffers func() int64
}

func newReclaimer(now time.Time, buffers func() int64) *reclaimer {
	r := &reclaimer{buffers: buffers, samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}, last: now}
	r.peak = r.load()
	r.base = r.peak.Heap
	r.peak.Base = r.base
	r.prev = r.peak
	return r
}

func (r *reclaimer) load() memLoad {
	metrics.Read(r.samples)
	var l memLoad
	if r.samples[0].Value.Kind() == metrics.KindUint64 {
		l.Heap = r.samples[0].Value.Uint64()
	}
	if r.samples[1].Value.Kind() == metrics.KindUint64 {
		l.Free = r.samples[1].Value.Uint64()
	}
	l.Base = r.base
	l.Goroutines = runtime.NumGoroutine()
	if r.buffers != nil {
		l.Buffers = uint64(max(r.buffers(), 0))
	}
	return l
}

// step takes one sample at now and returns memory if due. It reports
// whether it did.
func (r *reclaimer) step(now time.Time) bool {
	cur := r.load()
	r.peak = maxLoad(r.peak, cur)
	prev := r.prev
	r.prev = cur
	// A reclaim made as the load falls can come while the last
	// connections are still closing: after 500 echo clients left, one
	// found 15.6 MiB still live that was garbage a second later, and no
	// rule saw a fall after it (RSS stayed 17 MiB over baseline). So a
	// reclaim for a fall is followed by one more, once.
	followUp := r.followUp && now.Sub(r.last) >= reclaimEvery
	due := reclaimDue(r.peak, prev, cur, r.last, now)
	if !due && !followUp {
		return false
	}
	r.followUp = due
	// Two collections: sync.Pools (tcp's buffers, echo's) keep what the
	// first one finds in a victim cache, which the second frees;
	// FreeOSMemory's collection then returns it.
	runtime.GC()
	debug.FreeOSMemory()
	r.base = r.load().Heap
	r.peak, r.last = r.load(), now
	r.prev = r.peak
	return true
}

// softLimitHeadroom is what `up`'s soft memory limit under TCP memory
// pressure allows beyond the runtime's memory at start and the TCP buffer
// budget: the connections' own state (goroutine stacks, endpoints, the
// services' and net/http's buffers, the 4 KiB each buffer direction may
// hold beyond the budget) and the garbage between two collections.
const softLimitHeadroom = 12 << 20

// softLimit is the Go soft memory limit `up` wants: user's (--memory-limit;
// 0: none) and, while TCP is under memory pressure, at most base (the
// runtime's memory when the services started) plus the TCP buffer budget
// and softLimitHeadroom.
//
// Without it the collector lets the heap grow to twice what is live
// (GOGC=100), and TCP's buffers are live: an attack that fills the budget
// let garbage (the pooled buffers rings grew out of, net/http's
// per-request state) add as much again. 500 never-reading echo clients
// held 40 MiB of TCP buffers in 61.8 MiB of heap, RSS 58 MiB over
// baseline and rising until they left (issue 13). Only under pressure,
// because a busy host's live heap may be beyond it for good (35,000
// connections in TIME_WAIT after a burst of short HTTP requests are some
// 50 MiB) and the collector would then run without pause; the limit is
// soft, so at worst the process runs slower (the runtime caps the
// collector's share of CPU), never fails.
func softLimit(underPressure bool, user int64, base uint64, tcpLimit int64) int64 {
	lim := int64(math.MaxInt64)
	if user > 0 {
		lim = user
	}
	if underPressure && tcpLimit > 0 {
		lim = min(lim, int64(base)+tcpLimit+softLimitHeadroom)
	}
	return lim
}

// runtimeMemory is the memory the Go runtime holds from the kernel now:
// what it mapped less what it returned (what the soft limit counts).
func runtimeMemory() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// runReclaimer samples every reclaimSample until stop is closed, and sets
// the soft memory limit (softLimit, user being --memory-limit) whenever
// tp's TCP memory pressure begins or ends.
func runReclaimer(stop <-chan struct{}, tp *tcp.Protocol, user int64) {
	base := runtimeMemory()
	kick := make(chan struct{}, 1)
	tp.OnMemoryPressure(func(bool) {
		select {
		case kick <- struct{}{}:
		default: // a change is already waiting; the state is read then
		}
	})
	defer tp.OnMemoryPressure(nil)
	apply := func() {
		m := tp.Memory()
		debug.SetMemoryLimit(softLimit(m.UnderPressure, user, base, m.Limit))
	}
	apply()
	r := newReclaimer(time.Now(), tp.MemoryInUse)
	t := time.NewTicker(reclaimSample)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-kick:
			apply()
		case now := <-t.C:
			r.step(now)
		}
	}
}
