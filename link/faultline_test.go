package link

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// arrival is a frame that came out of a Faulty and when.
type arrival struct {
	n   int           // its number (see numbered)
	at  time.Duration // since t0
	len int
}

// timedDev is a Device that records when each written frame arrives, by
// its clock, and releases it.
type timedDev struct {
	clk *vclock.Clock
	mu  sync.Mutex
	got []arrival
}

func (d *timedDev) MTU() int               { return 9000 }
func (d *timedDev) Attach(FrameDispatcher) {}
func (d *timedDev) Close() error           { return nil }
func (d *timedDev) WriteFrame(p *stack.Packet) error {
	d.mu.Lock()
	d.got = append(d.got, arrival{number(p), d.clk.Now().Sub(t0), p.Len()})
	d.mu.Unlock()
	p.Release()
	return nil
}

func (d *timedDev) take() []arrival {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.got
	d.got = nil
	return out
}

// sized returns frame n with a total length of size bytes.
func sized(n, size int) *stack.Packet {
	p := frame(macB, macA, 0x88b5, size-EthernetHeaderLen)
	p.Bytes()[EthernetHeaderLen] = 0
	putNumber(p, n)
	return p
}

func putNumber(p *stack.Packet, n int) {
	b := p.Bytes()[EthernetHeaderLen:]
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

func newTimed(t *testing.T, rates FaultRates) (*Faulty, *timedDev, *vclock.Clock) {
	t.Helper()
	clk := vclock.New(t0)
	dev := &timedDev{clk: clk}
	f := NewFaulty(dev, FaultConfig{Seed: 1, Tx: rates, Clock: clk}).(*Faulty)
	return f, dev, clk
}

func TestFaultyDelay(t *testing.T) {
	start := stack.LivePackets()
	f, dev, clk := newTimed(t, FaultRates{Delay: 10 * time.Millisecond})
	for i := range 3 {
		if err := f.WriteFrame(numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(4 * time.Millisecond)
	f.WriteFrame(numbered(3))
	clk.Advance(10*time.Millisecond - 4*time.Millisecond - time.Nanosecond)
	if got := dev.take(); len(got) != 0 {
		t.Fatalf("frames %v arrived before the delay", got)
	}
	clk.Advance(time.Nanosecond)
	if got := dev.take(); !slices.Equal(got, []arrival{{0, 10 * time.Millisecond, 64 + 14}, {1, 10 * time.Millisecond, 78}, {2, 10 * time.Millisecond, 78}}) {
		t.Fatalf("at 10ms: %v", got)
	}
	for clk.RunNext() {
	}
	if got := dev.take(); !slices.Equal(got, []arrival{{3, 14 * time.Millisecond, 78}}) {
		t.Fatalf("then: %v", got)
	}
	f.Close()
	checkLive(t, start)
}

func TestFaultyJitterKeepsOrder(t *testing.T) {
	start := stack.LivePackets()
	const d, j = 10 * time.Millisecond, 5 * time.Millisecond
	f, dev, clk := newTimed(t, FaultRates{Delay: d, Jitter: j})
	const n = 200
	sent := make([]time.Duration, n)
	for i := range n {
		sent[i] = clk.Now().Sub(t0)
		f.WriteFrame(numbered(i))
		clk.Advance(time.Millisecond) // faster than the jitter: draws overtake
	}
	for clk.RunNext() {
	}
	got := dev.take()
	if len(got) != n {
		t.Fatalf("%d frames arrived, want %d", len(got), n)
	}
	distinct := map[time.Duration]bool{}
	for i, a := range got {
		if a.n != i {
			t.Fatalf("frame %d arrived in place %d: jitter reordered", a.n, i)
		}
		delay := a.at - sent[i]
		if delay < d-j || (i > 0 && a.at < got[i-1].at) {
			t.Fatalf("frame %d: delay %v, want >= %v and in order", i, delay, d-j)
		}
		// Beyond Delay+Jitter only by waiting for its predecessor.
		if delay > d+j && a.at != got[i-1].at {
			t.Fatalf("frame %d: delay %v above %v without waiting for frame %d", i, delay, d+j, i-1)
		}
		distinct[delay] = true
	}
	if len(distinct) < n/2 {
		t.Errorf("only %d distinct delays of %d frames: no jitter?", len(distinct), n)
	}
	f.Close()
	checkLive(t, start)
}

func TestFaultyRateSpacesFramesBySize(t *testing.T) {
	start := stack.LivePackets()
	// 8000 bit/s: one byte per millisecond.
	f, dev, clk := newTimed(t, FaultRates{Rate: 8000, Delay: 3 * time.Millisecond})
	sizes := []int{100, 250, 60, 1514}
	for i, size := range sizes {
		f.WriteFrame(sized(i, size))
	}
	// The link is idle again at 1924ms; a later frame does not wait.
	clk.AdvanceTo(t0.Add(5 * time.Second))
	f.WriteFrame(sized(4, 100))
	for clk.RunNext() {
	}
	want := []arrival{
		{0, 103 * time.Millisecond, 100},
		{1, 353 * time.Millisecond, 250},
		{2, 413 * time.Millisecond, 60},
		{3, 1927 * time.Millisecond, 1514},
		{4, 5103 * time.Millisecond, 100},
	}
	if got := dev.take(); !slices.Equal(got, want) {
		t.Errorf("arrivals\n got %v\nwant %v", got, want)
	}
	f.Close()
	checkLive(t, start)
}

func TestFaultyQueueOverflowTailDrops(t *testing.T) {
	for _, queue := range []int{0, 4} {
		start := stack.LivePackets()
		f, dev, clk := newTimed(t, FaultRates{Rate: 1e6, Queue: queue})
		limit := queue
		if limit == 0 {
			limit = DefaultFaultQueue
		}
		const extra = 6
		for i := range limit + extra {
			f.WriteFrame(numbered(i))
		}
		if s := f.TxStats(); s.Overflowed != extra {
			t.Errorf("Queue=%d: overflowed %d, want %d", queue, s.Overflowed, extra)
		}
		if n := stack.LivePackets() - start; n != int64(limit) {
			t.Errorf("Queue=%d: %d frames held, want %d", queue, n, limit)
		}
		// The first frame leaves, so one more fits.
		clk.RunNext()
		f.WriteFrame(numbered(9999))
		if s := f.TxStats(); s.Overflowed != extra {
			t.Errorf("Queue=%d: overflowed %d after a frame left, want %d", queue, s.Overflowed, extra)
		}
		for clk.RunNext() {
		}
		got := dev.take()
		var nums []int
		for _, a := range got {
			nums = append(nums, a.n)
		}
		want := make([]int, 0, limit+1)
		for i := range limit {
			want = append(want, i) // the first ones: tail drop
		}
		want = append(want, 9999)
		if !slices.Equal(nums, want) {
			t.Errorf("Queue=%d: passed %v, want %v", queue, nums, want)
		}
		f.Close()
		checkLive(t, start)
	}
}

func TestFaultyCloseReleasesDelayedFrames(t *testing.T) {
	start := stack.LivePackets()
	f, dev, clk := newTimed(t, FaultRates{Delay: time.Second, Reorder: 0.5})
	for i := range 20 {
		f.WriteFrame(numbered(i))
	}
	if stack.LivePackets() == start {
		t.Fatal("nothing held")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	checkLive(t, start)
	if n := clk.Pending(); n != 0 {
		t.Errorf("%d timers still armed after Close", n)
	}
	clk.Advance(time.Hour)
	if got := dev.take(); len(got) != 0 {
		t.Errorf("%d frames passed on after Close", len(got))
	}
	if err := f.WriteFrame(numbered(99)); err != stack.ErrClosed {
		t.Errorf("WriteFrame after Close: %v, want ErrClosed", err)
	}
	checkLive(t, start)
}

func TestFaultyDelayWithReorderStillReorders(t *testing.T) {
	start := stack.LivePackets()
	f, dev, clk := newTimed(t, FaultRates{Delay: time.Millisecond, Reorder: 1})
	for i := range 4 {
		f.WriteFrame(numbered(i))
	}
	for clk.RunNext() {
	}
	var nums []int
	for _, a := range dev.take() {
		nums = append(nums, a.n)
	}
	if want := []int{1, 0, 3, 2}; !slices.Equal(nums, want) {
		t.Errorf("passed %v, want %v", nums, want)
	}
	f.Close()
	checkLive(t, start)
}

// TestFaultyRxDelayRealClockInBubble delays received frames on a Pipe with
// the default clock inside a synctest bubble (as the simulation runs it):
// time is virtual there, so the delay is exact, and Close leaves no
// goroutine (synctest fails otherwise).
func TestFaultyRxDelayRealClockInBubble(t *testing.T) {
	start := stack.LivePackets()
	synctest.Test(t, func(t *testing.T) {
		a, b := Pipe(1500)
		fb := NewFaulty(b, FaultConfig{Rx: FaultRates{Delay: 5 * time.Millisecond, Rate: 1e6}}).(*Faulty)
		c := make(chanSink, 8)
		fb.Attach(c)
		begin := time.Now()
		for i := range 3 {
			a.WriteFrame(sized(i, 125)) // 1ms each at 1 Mbit/s
		}
		for i := range 3 {
			p := <-c
			if number(p) != i {
				t.Errorf("frame %d arrived as number %d", i, number(p))
			}
			if got, want := time.Since(begin), time.Duration(i+1)*time.Millisecond+5*time.Millisecond; got != want {
				t.Errorf("frame %d after %v, want %v", i, got, want)
			}
			p.Release()
		}
		// Frames in flight at Close are released.
		a.WriteFrame(sized(9, 125))
		a.WriteFrame(sized(10, 125))
		synctest.Wait()
		a.Close()
		fb.Close()
		if len(c) != 0 {
			t.Errorf("%d frames delivered before their delay", len(c))
			for len(c) > 0 {
				(<-c).Release()
			}
		}
	})
	checkLive(t, start)
}

// TestFaultyDelayConcurrentClose races writers, timer callbacks and Close
// on the real clock (run with -race): nothing leaks, nothing panics.
func TestFaultyDelayConcurrentClose(t *testing.T) {
	start := stack.LivePackets()
	for round := range 20 {
		a, b := Pipe(1500)
		cfg := FaultConfig{Seed: uint64(round), Tx: FaultRates{Delay: 50 * time.Microsecond, Jitter: 40 * time.Microsecond, Duplicate: 0.1},
			Rx: FaultRates{Rate: 1e9, Reorder: 0.1}}
		fa := NewFaulty(a, cfg)
		fb := NewFaulty(b, cfg)
		sink := FrameDispatcherFunc(func(p *stack.Packet) { p.Release() })
		fa.Attach(sink)
		fb.Attach(sink)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := range 200 {
					fa.WriteFrame(numbered(w*1000 + i))
					fb.WriteFrame(numbered(w*1000 + i))
				}
			})
		}
		wg.Wait()
		fa.Close()
		fb.Close()
	}
	checkLive(t, start)
}

func TestFaultyAllocatesNothing(t *testing.T) {
	dev := FrameDispatcherFunc(func(p *stack.Packet) { p.Release() })
	for _, rates := range []FaultRates{{}, {Delay: time.Millisecond, Rate: 1e9}} {
		clk := vclock.New(t0)
		f := NewFaulty(releaseDev{dev}, FaultConfig{Tx: rates, Clock: clk})
		// Warm up: the ring grows and the timer is made once.
		for range 2000 {
			f.WriteFrame(sized(0, 1514))
			clk.Advance(20 * time.Microsecond)
		}
		allocs := testing.AllocsPerRun(1000, func() {
			p := stack.NewPacket(0, 1514) // pooled: no allocation
			f.WriteFrame(p)
			clk.Advance(20 * time.Microsecond)
		})
		if allocs != 0 {
			t.Errorf("%+v: %v allocs per frame, want 0", rates, allocs)
		}
		f.Close()
	}
}

// releaseDev is a Device that releases what it is given.
type releaseDev struct{ FrameDispatcherFunc }

func (releaseDev) MTU() int                           { return 9000 }
func (releaseDev) Attach(FrameDispatcher)             {}
func (releaseDev) Close() error                       { return nil }
func (d releaseDev) WriteFrame(p *stack.Packet) error { d.FrameDispatcherFunc(p); return nil }

func BenchmarkFaultyWriteFrame(b *testing.B) {
	for _, tc := range []struct {
		name  string
		rates FaultRates
	}{
		{"none", FaultRates{}},
		{"loss+dup+reorder", FaultRates{Loss: 0.01, Duplicate: 0.01, Reorder: 0.01}},
		{"delay+rate", FaultRates{Delay: time.Millisecond, Rate: 10e9}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			clk := vclock.New(t0)
			f := NewFaulty(releaseDev{func(p *stack.Packet) { p.Release() }}, FaultConfig{Tx: tc.rates, Clock: clk})
			defer f.Close()
			b.ReportAllocs()
			for b.Loop() {
				f.WriteFrame(stack.NewPacket(0, 1514))
				clk.Advance(2 * time.Microsecond)
			}
		})
	}
}
