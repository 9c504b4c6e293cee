package tcp

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"
)

// BenchmarkConnectionSetup is issue 20's connection rate row in
// miniature: each op dials a listener over the fake wire, accepts,
// exchanges one byte each way and closes both ends (the dialer first, so
// TIME_WAIT is on its side, as with an HTTP client). allocs/op is what one
// connection costs the two stacks and the test's goroutine.
func BenchmarkConnectionSetup(b *testing.B) {
	tn := newTestNet(b, Options{}, linkFaults{}, linkFaults{})
	defer tn.close()
	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:80"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				done <- nil
				return
			}
			if _, err := c.Read(buf); err != nil {
				done <- err
				return
			}
			c.Write(buf)
			c.Close()
		}
	}()
	dst := netip.MustParseAddrPort("10.0.0.2:80")
	buf := make([]byte, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := Dial(context.Background(), tn.a, dst)
		if err != nil {
			b.Fatal(err)
		}
		c.Write(buf)
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.StopTimer()
	ln.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// heapBenchNet is the set-up of the heap benchmarks: a test net with a
// listener on B's port 80, and the memory statistics after a collection.
func heapBenchNet(tb testing.TB) (*testNet, *Listener, runtime.MemStats) {
	tn := newTestNet(tb, Options{}, linkFaults{}, linkFaults{})
	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:80"))
	if err != nil {
		tb.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return tn, ln, ms
}

// BenchmarkIdleConnectionHeap reports the heap one established, idle
// connection holds on both stacks (after one request and answer each, so
// its buffers and records exist), the test's own goroutines and Conns
// included, and the goroutine stacks they keep: issue 20's "RSS per idle
// connection" row in miniature. It measures 2,000 connections once, in a
// fresh process (freshproc_test.go): in the benchmark's own process what
// earlier runs left is freed while it measures (the heap read 2045 bytes
// for 5807) and the benchmarks before it set the goroutines' initial
// stack (4112 stack bytes for 2081).
func BenchmarkIdleConnectionHeap(b *testing.B) {
	idleBench.once.Do(func() { idleBench.heap, idleBench.stack = idleConnectionsFresh(b, 2000) })
	for range b.N {
	}
	b.ReportMetric(0, "ns/op") // one measurement, not a rate
	b.ReportMetric(idleBench.heap, "heapB/conn")
	b.ReportMetric(idleBench.stack, "stackB/conn")
}

// echoOnce is a handler as bench.sh's echo server has it (benchserver's
// serveEcho): a frame of its own and calls through net.Conn, whose
// buffer therefore lives on the heap (one byte here, so that the heap
// figures stay the stack's own). It echoes one read, hands c over, and
// waits in Read.
//
//go:noinline
func echoOnce(nc net.Conn, accepted chan<- *Conn) {
	var buf [1]byte
	n, _ := nc.Read(buf[:])
	nc.Write(buf[:n])
	accepted <- nc.(*Conn)
	nc.Read(buf[:])
}

// idleBench is BenchmarkIdleConnectionHeap's measurement, made once
// however many times the benchmark's function is called.
var idleBench struct {
	once        sync.Once
	heap, stack float64
}

// idleConnections opens n connections between the test net's stacks,
// each with a handler as a server has (it echoes one byte, then waits in
// Read while the connection is idle), and returns the heap and the
// goroutine stacks they hold, per connection pair. The stacks count too:
// a call on an application's path that needs more than 2 KiB of stack
// doubles its goroutine's for good.
func idleConnections(tb testing.TB, n int) (heapB, stackB float64) {
	tn, ln, ms := heapBenchNet(tb)
	before, stackBefore := ms.HeapAlloc, ms.StackInuse
	accepted := make(chan *Conn, n)
	var handlers sync.WaitGroup
	go func() {
		for range n {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				echoOnce(c, accepted)
			}()
		}
	}()
	conns := make([]*Conn, 0, 2*n)
	buf := make([]byte, 1)
	for range n {
		c, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("10.0.0.2:80"))
		if err != nil {
			tb.Fatal(err)
		}
		c.Write(buf)
		c.Read(buf)
		conns = append(conns, c, <-accepted)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapB = (float64(ms.HeapAlloc) - float64(before)) / float64(n)
	stackB = (float64(ms.StackInuse) - float64(stackBefore)) / float64(n)
	for _, c := range conns {
		c.Close()
	}
	handlers.Wait()
	ln.Close()
	tn.close()
	return heapB, stackB
}

// BenchmarkTimeWaitHeap reports the heap a connection in TIME_WAIT holds:
// the server answers and closes first (as an HTTP server with
// Connection: close), so the TIME_WAITs are on its side, as after
// bench.sh's new-connection rows; the client's connections are closed
// and gone when it measures. 20,000 of them: the table's map is then
// large enough for its room per record to be what a busy server's is
// (at 2,000 it read 172 bytes a record where 20,000 read 144 to 149).
func BenchmarkTimeWaitHeap(b *testing.B) {
	const n = 20_000
	for range b.N {
		tn, ln, ms := heapBenchNet(b)
		before := ms.HeapAlloc
		go func() {
			buf := make([]byte, 1)
			for {
				c, err := ln.AcceptTCP()
				if err != nil {
					return
				}
				c.Read(buf)
				c.Write(buf)
				c.Close()
			}
		}()
		buf := make([]byte, 1)
		for range n {
			c, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("10.0.0.2:80"))
			if err != nil {
				b.Fatal(err)
			}
			c.Write(buf)
			c.Read(buf)
			c.Read(buf) // EOF
			c.Close()
		}
		// Wait until every connection is in TIME_WAIT or gone (a
		// reused ephemeral port ends a TIME_WAIT early, RFC 6191).
		tw := 0
		for i := 0; ; i++ {
			tw = 0
			other := len(tn.pa.Sockets())
			for _, s := range tn.pb.Sockets() {
				switch s.State {
				case "TIME_WAIT":
					tw++
				case "LISTEN":
				default:
					other++
				}
			}
			if other == 0 {
				break
			}
			if i > 5000 {
				b.Fatalf("%d connections neither in TIME_WAIT nor closed", other)
			}
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric((float64(ms.HeapAlloc)-float64(before))/float64(tw), "heapB/conn")
		ln.Close()
		tn.close()
	}
}
