package tcp

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// memConfig is the test configuration with a memory budget of limit
// bytes, pressure from pressure bytes.
func memConfig(limit, pressure int) *config {
	c := Options{TimeWait: 60 * time.Second, CongestionControl: "reno", MemoryLimit: limit, MemoryPressure: pressure}.config()
	return &c
}

// establishedWith is establishedCore with configuration cfg (shared by
// the cores of one test, as the connections of a stack share it).
func establishedWith(t testing.TB, cfg *config) *core {
	t.Helper()
	var cs stack.Counters
	c := new(core)
	c.init(cfg, newCounters(&cs), testISS, testMSS, 0)
	c.connect(t0)
	takeOut(c)
	c.handleSegment(t0.Add(10*time.Millisecond), &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 65535,
		opts: SegmentOptions{HasMSS: true, MSS: testMSS}})
	if c.state != StateEstablished {
		t.Fatalf("state %v after SYN-ACK", c.state)
	}
	takeOut(c)
	return c
}

// TestOutOfOrderChargedBySize is "account for what is actually held"
// (Linux charges an out-of-order skb its truesize, not its offset): one
// byte at the far edge of the advertised window costs a small piece, not
// a ring grown to that offset, and 2,000 such connections stay within
// 2,000 pieces.
func TestOutOfOrderChargedBySize(t *testing.T) {
	cfg := memConfig(0, 0)
	const conns = 2000
	cores := make([]*core, conns)
	for i := range cores {
		c := establishedWith(t, cfg)
		edge := c.lastAdvRight.Sub(1)
		if i == 0 && c.rcvNxt.Size(edge) < 60000 {
			t.Fatalf("window edge only %d bytes ahead", c.rcvNxt.Size(edge))
		}
		c.handleSegment(t0, data(edge, testISS+1, "x"))
		takeOut(c)
		if len(c.ooo) != 1 {
			t.Fatalf("conn %d: out-of-order ranges %v", i, c.ooo)
		}
		if len(c.rcv.buf) != 0 {
			t.Fatalf("conn %d: one byte at offset %d grew the receive ring to %d bytes", i, c.rcvNxt.Size(edge), len(c.rcv.buf))
		}
		cores[i] = c
	}
	if used := cfg.mem.inUse(); used != conns*minChunk {
		t.Fatalf("%d one-byte segments charged %d bytes, want %d", conns, used, conns*minChunk)
	}
	// The gap fills: the byte joins the ring and the piece goes back.
	c := cores[0]
	gap := int(c.rcvNxt.Size(c.oooq.p[0].seq))
	c.handleSegment(t0, data(c.rcvNxt, testISS+1, string(bytes.Repeat([]byte("a"), gap))))
	buf := make([]byte, gap+10)
	if n := c.read(t0, buf); n != gap+1 || buf[gap] != 'x' {
		t.Fatalf("read %d bytes, last %q", n, buf[n-1])
	}
	if c.oooAlloc() != 0 || c.rcv.alloc() != 0 {
		t.Fatalf("drained connection holds ring %d, pieces %d", c.rcv.alloc(), c.oooAlloc())
	}
	if used := cfg.mem.inUse(); used != (conns-1)*minChunk {
		t.Fatalf("after one connection drained: charged %d, want %d", used, (conns-1)*minChunk)
	}
}

// TestOutOfOrderReassemblyExact: segments of a stream delivered in a
// random order with duplicates and overlaps reassemble byte-exact, and a
// connection that read everything holds no memory.
func TestOutOfOrderReassemblyExact(t *testing.T) {
	for seed := range uint64(20) {
		cfg := memConfig(0, 0)
		c := establishedWith(t, cfg)
		rng := rand.New(rand.NewPCG(seed, 1))
		stream := make([]byte, 40000)
		for i := range stream {
			stream[i] = byte(rng.IntN(256))
		}
		base := c.rcvNxt
		type piece struct{ off, n int }
		var segs []piece
		for off := 0; off < len(stream); {
			n := min(1+rng.IntN(testMSS), len(stream)-off)
			segs = append(segs, piece{off, n})
			if rng.IntN(4) == 0 { // an overlapping resend
				o := max(off-rng.IntN(300), 0)
				segs = append(segs, piece{o, min(n+rng.IntN(300), len(stream)-o)})
			}
			off += n
		}
		rng.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
		var got []byte
		buf := make([]byte, 8192)
		for round := 0; len(got) < len(stream) && round < 4; round++ {
			for _, s := range segs {
				c.handleSegment(t0, data(base.Add(seqnum.Size(s.off)), testISS+1, string(stream[s.off:s.off+s.n])))
				takeOut(c)
				for c.rcv.n > 0 {
					got = append(got, buf[:c.read(t0, buf)]...)
				}
			}
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("seed %d: reassembled %d bytes, differ from the %d sent", seed, len(got), len(stream))
		}
		if c.rcv.alloc() != 0 || c.oooAlloc() != 0 || len(c.ooo) != 0 || cfg.mem.inUse() != 0 {
			t.Fatalf("seed %d: after reading everything: ring %d, pieces %d, ranges %v, charged %d",
				seed, c.rcv.alloc(), c.oooAlloc(), c.ooo, cfg.mem.inUse())
		}
	}
}

// TestMemoryPressureStopsWindowGrowth is Linux's tcp_under_memory_pressure:
// under pressure a new connection is offered only the minimum window,
// reading does not open the window beyond the buffer the connection has,
// and auto-tuning stops; when use falls below half the limit the window
// opens again.
func TestMemoryPressureStopsWindowGrowth(t *testing.T) {
	cfg := memConfig(1<<20, 512<<10)
	m := cfg.mem
	m.add(600 << 10) // other connections' buffers
	if !m.underPressure() || m.pressureEntered.Load() != 1 {
		t.Fatalf("at %d of %d: pressure %v, entered %d", m.inUse(), m.limit, m.underPressure(), m.pressureEntered.Load())
	}
	c := new(core)
	var cs stack.Counters
	c.init(cfg, newCounters(&cs), testISS, testMSS, 0)
	c.acceptSyn(t0, &segment{seq: peerISS, flags: FlagSYN, wnd: 65535, opts: SegmentOptions{HasMSS: true, MSS: testMSS}})
	out := takeOut(c)
	if len(out) != 1 || out[0].wnd != memMinimum {
		t.Fatalf("SYN-ACK under pressure %+v: want window %d", out, memMinimum)
	}
	c.handleSegment(t0, ack(peerISS+1, testISS+1))
	takeOut(c)
	// A reader that keeps up: 120 KB read in one round trip would make
	// auto-tuning grow the buffer to 480 KB.
	c.rtt.srtt = 30 * time.Second
	buf := make([]byte, 8192)
	for i := range 40 {
		now := t0.Add(time.Duration(i) * time.Second)
		c.handleSegment(now, data(c.rcvNxt, testISS+1, string(make([]byte, 3000))))
		takeOut(c)
		c.read(now, buf)
		takeOut(c)
	}
	if c.rcv.max != cfg.rcvBuf || c.ctr.rcvBufGrown.Load() != 0 {
		t.Fatalf("auto-tuning under pressure: buffer %d (configured %d), grown %d times", c.rcv.max, cfg.rcvBuf, c.ctr.rcvBufGrown.Load())
	}
	c.ackNow = true
	c.output(t0)
	out = takeOut(c)
	if len(out) != 1 || int(out[0].wnd)<<c.rcvShift > memMinimum {
		t.Fatalf("window under pressure %+v: want at most %d", out, memMinimum)
	}
	m.add(-600 << 10)
	if m.underPressure() {
		t.Fatalf("pressure at %d of %d", m.inUse(), m.limit)
	}
	c.ackNow = true
	c.output(t0)
	out = takeOut(c)
	if len(out) != 1 || out[0].wnd != 0xffff {
		t.Fatalf("window after pressure %+v: want the buffer's", out)
	}
}

// TestMemoryLimitDropsInOrderData is Linux's tcp_try_rmem_schedule: at the
// limit, in-order data that needs a bigger buffer first costs the
// connection its out-of-order data (tcp_prune_ofo_queue), then is dropped
// (counted, answered with an ACK at once); the 4 KiB minimum is always
// granted.
func TestMemoryLimitDropsInOrderData(t *testing.T) {
	cfg := memConfig(64<<10, 63<<10)
	m := cfg.mem
	c := establishedWith(t, cfg)
	base := c.rcvNxt
	c.handleSegment(t0, data(base.Add(5000), testISS+1, string(make([]byte, 1000))))
	takeOut(c)
	if c.oooq.alloc != 1024 {
		t.Fatalf("1000 bytes out of order take %d", c.oooq.alloc)
	}
	m.add(int(m.limit - m.inUse())) // others hold the rest
	// 4000 bytes need a 4 KiB ring: beyond the minimum with the piece, so
	// the piece goes first.
	c.handleSegment(t0, data(base, testISS+1, string(make([]byte, 4000))))
	out := takeOut(c)
	if c.rcvNxt != base.Add(4000) || m.oooPruned.Load() != 1000 || len(c.ooo) != 0 || c.oooAlloc() != 0 {
		t.Fatalf("rcvNxt +%d, pruned %d, ranges %v, pieces %d", base.Size(c.rcvNxt), m.oooPruned.Load(), c.ooo, c.oooAlloc())
	}
	if len(out) != 1 || out[0].ack != base.Add(4000) {
		t.Fatalf("sent %+v", out)
	}
	// More unread data needs more than the minimum: dropped, and the
	// window the ACK advertises is what is left of the one advertised.
	c.handleSegment(t0, data(base.Add(4000), testISS+1, string(make([]byte, 1000))))
	out = takeOut(c)
	if c.rcvNxt != base.Add(4000) || m.rxDropped.Load() != 1 {
		t.Fatalf("over the limit: rcvNxt +%d, dropped %d", base.Size(c.rcvNxt), m.rxDropped.Load())
	}
	if len(out) != 1 || out[0].ack != base.Add(4000) {
		t.Fatalf("no ACK at once for the dropped segment: %+v", out)
	}
	if m.inUse() != m.limit+int64(memMinimum)-1024 {
		t.Fatalf("charged %d, want the limit less the pruned piece plus the minimum", m.inUse())
	}
	// Another connection still gets its minimum both ways.
	d := establishedWith(t, cfg)
	d.handleSegment(t0, data(d.rcvNxt, testISS+1, string(make([]byte, 3000))))
	takeOut(d)
	if d.rcv.n != 3000 {
		t.Fatalf("minimum refused: %d bytes buffered", d.rcv.n)
	}
	if k := d.write(t0, make([]byte, 10000)); k != memMinimum {
		t.Fatalf("write at the limit took %d bytes, want the %d minimum", k, memMinimum)
	}
	if !d.memBlocked() {
		t.Fatal("memBlocked false with the budget full")
	}
}

// memConn is an established Conn of a stack whose TCP has a memory
// budget of limit bytes, its segments going to a sink.
func memConn(t *testing.T, limit int) (*Protocol, *Conn) {
	p, c, _, _, _ := handConn(t, &sinkIP{}, Options{MemoryLimit: limit})
	return p, c
}

// waitMemWaiting waits, bounded, until a Write of c waits for memory.
func waitMemWaiting(t *testing.T, c *Conn, done <-chan error) {
	t.Helper()
	for range 1_000_000 {
		select {
		case err := <-done:
			t.Fatalf("Write returned (%v) with the budget full", err)
		default:
		}
		c.e.mu.Lock()
		w := c.e.memWaiting
		c.e.mu.Unlock()
		if w {
			return
		}
		runtime.Gosched()
	}
	t.Fatal("Write never waited for memory")
}

// TestWriteWaitsForMemory: at the limit a Write queues its minimum and
// waits (tcp.mem.tx_waits); memory freed by other connections wakes it and
// it completes; a deadline or Close ends the wait.
func TestWriteWaitsForMemory(t *testing.T) {
	for _, end := range []string{"freed", "deadline", "close"} {
		t.Run(end, func(t *testing.T) {
			p, c := memConn(t, 1<<20)
			m := p.cfg.mem
			m.add(1 << 20) // other connections hold everything
			done := make(chan error, 1)
			go func() {
				_, err := c.Write(make([]byte, 32<<10))
				done <- err
			}()
			waitMemWaiting(t, c, done)
			if m.txWaits.Load() != 1 {
				t.Fatalf("tx_waits %d", m.txWaits.Load())
			}
			c.e.mu.Lock()
			queued := c.e.c.snd.n
			c.e.mu.Unlock()
			if queued != memMinimum {
				t.Fatalf("queued %d before waiting, want the %d minimum", queued, memMinimum)
			}
			var want error
			switch end {
			case "freed":
				m.add(-1 << 20)
			case "deadline":
				c.SetWriteDeadline(time.Now())
				want = os.ErrDeadlineExceeded
			case "close":
				c.Close()
				want = net.ErrClosed
			}
			if err := <-done; want == nil && err != nil || want != nil && !errors.Is(err, want) {
				t.Fatalf("Write: %v, want %v", err, want)
			}
		})
	}
}

// TestClosedConnectionGivesMemoryBack: a connection closed with unread
// data and out-of-order data gives every byte back to its pool and the
// budget.
func TestClosedConnectionGivesMemoryBack(t *testing.T) {
	p, c := memConn(t, 0)
	e := c.e
	e.mu.Lock()
	now := time.Now()
	nxt := e.c.rcvNxt
	e.c.handleSegment(now, data(nxt, e.c.sndNxt, "unread"))
	e.c.handleSegment(now, data(nxt.Add(100), e.c.sndNxt, "ahead"))
	e.afterCore(now)
	e.mu.Unlock()
	if p.MemoryInUse() == 0 {
		t.Fatal("nothing charged for received data")
	}
	c.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c.rcv.chunk != nil || e.c.oooPieces() != 0 || p.MemoryInUse() != 0 {
		t.Fatalf("after Close: receive ring %v, %d pieces, %d bytes charged", e.c.rcv.chunk != nil, e.c.oooPieces(), p.MemoryInUse())
	}
}

// TestWriteMemoryBounded: a never-reading peer (chargen into a zero
// window) makes 100 connections' Writes wait once the budget is used up;
// what they hold stays within the limit plus their minimums.
func TestWriteMemoryBounded(t *testing.T) {
	const limit, conns = 256 << 10, 100
	p, _ := memConn(t, limit)
	var cs []*core
	for range conns {
		cs = append(cs, establishedWith(t, &p.cfg))
	}
	queued := 0
	for _, k := range cs {
		queued += k.write(t0, make([]byte, 64<<10))
	}
	used := p.MemoryInUse()
	if used > limit+conns*memMinimum || queued > int(used) {
		t.Fatalf("%d connections queued %d bytes, charged %d: limit %d", conns, queued, used, limit)
	}
	if queued < limit/2 {
		t.Fatalf("only %d bytes queued under a %d budget", queued, limit)
	}
}

// TestActiveOpenWindowNotFromTheSYN: the window our SYN advertised was
// relative to no sequence number; after the SYN-ACK the window must come
// from the buffer, not from that stale right edge (which advWnd keeps
// from shrinking).
func TestActiveOpenWindowNotFromTheSYN(t *testing.T) {
	c := newTestCore(t)
	c.connect(t0)
	takeOut(c)
	far := seqnum.Value(65535).Sub(1 << 30) // the SYN's right edge lies 2^30 ahead
	c.handleSegment(t0, &segment{seq: far, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 65535,
		opts: SegmentOptions{HasMSS: true, MSS: testMSS, HasWindowScale: true, WindowScale: 7}})
	out := takeOut(c)
	if len(out) == 0 || int(out[0].wnd)<<c.rcvShift > c.rcv.free() {
		t.Fatalf("ACK of the SYN-ACK %+v: window beyond the %d-byte buffer", out, c.rcv.free())
	}
}

// TestMemoryPressureHookOnEnterAndLeave: the OnMemoryPressure hook hears
// each change of tcp_mem's pressure state once (entering at
// MemoryPressure, leaving below half the limit), not each charge.
func TestMemoryPressureHookOnEnterAndLeave(t *testing.T) {
	cfg := memConfig(1<<20, 512<<10)
	m := cfg.mem
	var got []bool
	f := func(under bool) { got = append(got, under) }
	m.onPressure.Store(&f)
	for _, step := range []int{
		256 << 10, 256 << 10, // reaches the pressure mark: enter
		64 << 10,   // still under pressure
		-200 << 10, // 376 KiB: above half the limit, still under
		-200 << 10, // 176 KiB: below half: leave
		-100 << 10,
		600 << 10, // enter again
	} {
		m.add(step)
	}
	if want := []bool{true, false, true}; !slices.Equal(got, want) {
		t.Fatalf("hook calls %v, want %v", got, want)
	}
	if m.pressureEntered.Load() != 2 {
		t.Fatalf("pressure_entered %d, want 2", m.pressureEntered.Load())
	}
}

// TestEndpointSizeClass keeps a connection's state in the allocator's
// 640-byte size class: more takes every endpoint to the 704-byte class,
// 64 bytes more per connection (an idle server holds thousands). The
// runtime puts an 8-byte header before an object with pointers of more
// than 512 bytes, so 632 bytes of endpoint fill the class. What made it
// (from 1,520 bytes in the 1536 class): what only traffic needs (buffers,
// segments to send, SACK scoreboard, TLP, pacing, RACK's records, CUBIC's
// state, the deadlines and counts that are zero while nothing is due) in
// a struct an idle connection gives back (busy.go), the state of a loss
// response and of out-of-order data allocated on first use (lossState,
// oooState), the four-tuple's addresses kept once, in the route, the loss
// recovery as a byte, keepalive times in milliseconds, and small counts
// in 32 bits packed without padding (stamp.go keeps times in 8 bytes
// where a time.Time takes 24); then (from 744 bytes in the 768 class) the
// stamps' origin once in the protocol's config instead of an epoch in
// every connection (stamp.go), the clock timer's deadline in the timer's
// box, which only a connection with something due holds (timerbox.go),
// and the read and write deadlines, a Dial's channel and a WriteTo's
// TryWriter in a part allocated only while one is set (rare.go); then
// (from 696 bytes in the 704 class) the route packed (stack.PackedRoute:
// the next hop only when it is a gateway), the RTO's bounds read from the
// config instead of kept in every connection and whether an RTT was
// measured read from SRTT (rto.go), and when TS.Recent was set in whole
// seconds, in the core's padding (secStamp). It checks where endpoints
// are allocated too.
func TestEndpointSizeClass(t *testing.T) {
	const class, header = 640, 8
	if n := unsafe.Sizeof(endpoint{}); n+header > class {
		t.Fatalf("endpoint is %d bytes (%d with the allocator's header), past the %d-byte size class", n, n+header, class)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range endpointSink {
		endpointSink[i] = new(endpoint)
	}
	runtime.ReadMemStats(&after)
	for i, s := range after.BySize {
		if s.Size == class {
			if d := s.Mallocs - before.BySize[i].Mallocs; d < uint64(len(endpointSink)) {
				t.Fatalf("%d endpoints allocated, %d objects of the %d-byte size class", len(endpointSink), d, class)
			}
			endpointSink = [16]*endpoint{}
			return
		}
	}
	t.Fatalf("no %d-byte size class", class)
}

// endpointSink holds TestEndpointSizeClass's endpoints, so that they are
// allocated on the heap.
var endpointSink [16]*endpoint

// TestIdleConnectionStack checks that an idle connection's handler
// keeps the 2 KiB stack a goroutine starts with after it read a request
// and wrote a small answer: a send path that needs more doubles every
// handler's stack for good (a call more on it, a stamp conversion not
// inlined, did: 2081 stack bytes per connection became 4145). Its
// handler calls through net.Conn from a frame of its own, as bench.sh's
// echo server does (echoOnce): with the handler calling *Conn directly,
// a 24-byte larger frame on the send path (prrSent calling lossOn, an
// allocation) passed here while it took every echo handler of bench.sh
// to 4 KiB; with echoOnce this test reads 4260-4588 bytes for it. It
// measures in a fresh process with the fixed initial stack
// (freshproc_test.go).
func TestIdleConnectionStack(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation takes more stack")
	}
	if idleChild(t) {
		return
	}
	_, stackB := idleConnectionsFresh(t, 200)
	t.Logf("%.0f bytes of goroutine stack per idle connection", stackB)
	if stackB > 3072 {
		t.Fatalf("%.0f bytes of goroutine stack per idle connection, want about 2048 (the handler's initial stack)", stackB)
	}
}
