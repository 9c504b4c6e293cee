package main

import (
	"math"
	"testing"
	"time"
)

// TestReclaimDue: memory goes back to the kernel when the load fell a lot
// since its peak, at most once per reclaimEvery, and never while the load
// holds.
func TestReclaimDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	later := t0.Add(reclaimEvery)
	const MiB = 1 << 20
	tests := []struct {
		name      string
		peak, cur memLoad
		prev      memLoad // the sample before cur; zero: cur (quiet)
		last, now time.Time
		want      bool
	}{
		{"steady load", memLoad{Heap: 500 * MiB, Goroutines: 4000}, memLoad{Heap: 500 * MiB, Goroutines: 4000}, memLoad{Heap: 400 * MiB}, t0, later, false},
		{"heap fell 400 MiB", memLoad{Heap: 500 * MiB}, memLoad{Heap: 100 * MiB}, memLoad{}, t0, later, true},
		{"heap fell, too soon after the last", memLoad{Heap: 500 * MiB}, memLoad{Heap: 100 * MiB}, memLoad{}, t0, later.Add(-time.Second), false},
		{"heap fell less than the threshold", memLoad{Heap: 40 * MiB}, memLoad{Heap: 40*MiB - reclaimHeapDrop + 1, Base: 40*MiB - reclaimHeapDrop + 1}, memLoad{}, t0, later, false},
		{"heap fell by the threshold", memLoad{Heap: 40 * MiB}, memLoad{Heap: 40*MiB - reclaimHeapDrop}, memLoad{}, t0, later, true},
		{"connections ended, heap not collected yet", memLoad{Heap: 500 * MiB, Goroutines: 4010}, memLoad{Heap: 500 * MiB, Goroutines: 10}, memLoad{}, t0, later, true},
		{"a few connections ended", memLoad{Goroutines: 300}, memLoad{Goroutines: 200}, memLoad{}, t0, later, false},
		{"the 200 header-line connections of :80 ended", memLoad{Heap: 60 * MiB, Goroutines: 220}, memLoad{Heap: 60 * MiB, Goroutines: 20}, memLoad{}, t0, later, true},
		{"TCP buffers of ended connections freed, heap not collected yet", memLoad{Heap: 70 * MiB, Buffers: 40 * MiB}, memLoad{Heap: 70 * MiB, Buffers: 1 * MiB}, memLoad{}, t0, later, true},
		{"TCP buffers still falling", memLoad{Heap: 70 * MiB, Buffers: 40 * MiB}, memLoad{Heap: 70 * MiB, Buffers: 1 * MiB, Base: 70 * MiB}, memLoad{Heap: 70 * MiB, Buffers: 20 * MiB}, t0, later, false},
		{"connections still ending", memLoad{Heap: 60 * MiB, Goroutines: 220}, memLoad{Heap: 60 * MiB, Goroutines: 20, Base: 60 * MiB}, memLoad{Heap: 60 * MiB, Goroutines: 120}, t0, later, false},
		{"TCP buffers fell a little", memLoad{Buffers: 40 * MiB}, memLoad{Buffers: 40*MiB - reclaimHeapDrop + 1}, memLoad{}, t0, later, false},
		{"44 MiB uncollected after a load that came and went between samples", memLoad{Heap: 57 * MiB, Base: 5 * MiB}, memLoad{Heap: 57 * MiB, Base: 5 * MiB}, memLoad{}, t0, later, true},
		{"44 MiB uncollected while the process allocates", memLoad{Heap: 57 * MiB, Base: 5 * MiB}, memLoad{Heap: 57 * MiB, Base: 5 * MiB}, memLoad{Heap: 50 * MiB}, t0, later, false},
		{"a little allocated since the last collection", memLoad{Heap: 20 * MiB, Base: 5 * MiB}, memLoad{Heap: 20 * MiB, Base: 5 * MiB}, memLoad{}, t0, later, false},
		{"heap fell 20 MiB after an attack", memLoad{Heap: 70 * MiB}, memLoad{Heap: 50 * MiB}, memLoad{}, t0, later, true},
		{"free heap of an ended attack waiting", memLoad{Free: 20 * MiB}, memLoad{Free: 20 * MiB}, memLoad{}, t0, later, true},
		{"many ended, most still open", memLoad{Goroutines: 4000}, memLoad{Goroutines: 3000}, memLoad{}, t0, later, false},
		{"free heap waiting", memLoad{Free: reclaimFree}, memLoad{Free: reclaimFree}, memLoad{}, t0, later, true},
		{"little free heap", memLoad{Free: reclaimFree - 1}, memLoad{Free: reclaimFree - 1}, memLoad{}, t0, later, false},
	}
	for _, tt := range tests {
		prev := tt.prev
		if prev == (memLoad{}) {
			prev = tt.cur // a quiet process
		}
		if got := reclaimDue(tt.peak, prev, tt.cur, tt.last, tt.now); got != tt.want {
			t.Errorf("%s: reclaimDue = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestReclaimerStep: a step right after the start never reclaims (the
// interval), and the peak follows the load.
func TestReclaimerStep(t *testing.T) {
	now := time.Now()
	r := newReclaimer(now, nil)
	if r.step(now.Add(time.Second)) {
		t.Error("reclaimed within reclaimEvery of the start")
	}
	r.peak = memLoad{Heap: 1 << 40} // as after a huge load
	if !r.step(now.Add(reclaimEvery)) {
		t.Error("no reclaim after the heap fell from 1 TiB")
	}
	if r.peak.Heap >= 1<<40 || r.last != now.Add(reclaimEvery) {
		t.Errorf("after a reclaim: peak %d, last %v; want the current load and now", r.peak.Heap, r.last)
	}
}

// TestReclaimFollowUp: a reclaim for a fall of the load is followed by
// exactly one more reclaimEvery later, for what the connections still
// closing at the first one held.
func TestReclaimFollowUp(t *testing.T) {
	now := time.Now()
	r := newReclaimer(now, nil)
	r.peak = memLoad{Heap: 1 << 40} // as after a huge load
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{reclaimEvery, true},                  // the fall
		{reclaimEvery + reclaimSample, false}, // too soon
		{2 * reclaimEvery, true},              // the follow-up
		{3 * reclaimEvery, false},             // no second follow-up
		{4 * reclaimEvery, false},
	}
	for _, s := range steps {
		if got := r.step(now.Add(s.at)); got != s.want {
			t.Errorf("step at %v: reclaimed %v, want %v", s.at, got, s.want)
		}
	}
}

// TestSoftLimitOnlyUnderPressure: `up`'s soft memory limit is its base,
// the TCP budget and the headroom while TCP is under memory pressure, and
// otherwise --memory-limit or none; --memory-limit, when lower, wins.
func TestSoftLimitOnlyUnderPressure(t *testing.T) {
	const MiB = 1 << 20
	tests := []struct {
		name  string
		under bool
		user  int64
		want  int64
	}{
		{"no pressure, no --memory-limit", false, 0, math.MaxInt64},
		{"no pressure, --memory-limit 256MiB", false, 256 * MiB, 256 * MiB},
		{"pressure", true, 0, 8*MiB + 32*MiB + softLimitHeadroom},
		{"pressure, --memory-limit 256MiB", true, 256 * MiB, 8*MiB + 32*MiB + softLimitHeadroom},
		{"pressure, --memory-limit 32MiB", true, 32 * MiB, 32 * MiB},
	}
	for _, tt := range tests {
		if got := softLimit(tt.under, tt.user, 8*MiB, 32*MiB); got != tt.want {
			t.Errorf("%s: softLimit = %d, want %d", tt.name, got, tt.want)
		}
	}
	if got := softLimit(true, 0, 8*MiB, 0); got != math.MaxInt64 {
		t.Errorf("no TCP budget (MemoryLimit < 0): softLimit = %d, want none", got)
	}
}
