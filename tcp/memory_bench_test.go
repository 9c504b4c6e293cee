package tcp

import (
	"runtime"
	"testing"

	"github.com/tapstack/tapstack/stack"
)

// heapInuse is the heap in use after a collection.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkOutOfOrderEdgeHeap reports the heap that one 1-byte segment at
// the far edge of the window costs a connection (2,000 connections).
func BenchmarkOutOfOrderEdgeHeap(b *testing.B) {
	const conns = 2000
	for b.Loop() {
		cfg := Options{}.config()
		cores := make([]*core, conns)
		var cs stack.Counters
		ctr := newCounters(&cs)
		for i := range cores {
			c := new(core)
			c.init(&cfg, ctr, testISS, 1460, 0)
			c.acceptSyn(t0, &segment{seq: peerISS, flags: FlagSYN, wnd: 65535, opts: SegmentOptions{HasMSS: true, MSS: 1460, HasWindowScale: true, WindowScale: 7}})
			c.handleSegment(t0, ack(peerISS+1, testISS+1))
			c.ackNow = true
			c.output(t0) // advertises the whole buffer
			c.out = c.out[:0]
			cores[i] = c
		}
		before := heapInuse()
		for _, c := range cores {
			c.handleSegment(t0, data(c.lastAdvRight.Sub(1), testISS+1, "x"))
			c.out = c.out[:0]
		}
		after := heapInuse()
		b.ReportMetric(float64(int64(after)-int64(before))/conns, "heapB/conn")
		runtime.KeepAlive(cores)
	}
}

// BenchmarkNeverReadingPeers reports the heap 1,000 connections take
// whose peers never read (chargen into a zero window): each Write is
// offered 300 KB.
func BenchmarkNeverReadingPeers(b *testing.B) {
	const conns = 1000
	msg := make([]byte, 300<<10)
	for b.Loop() {
		cfg := Options{}.config()
		cores := make([]*core, conns)
		var cs stack.Counters
		ctr := newCounters(&cs)
		for i := range cores {
			c := new(core)
			c.init(&cfg, ctr, testISS, 1460, 0)
			c.acceptSyn(t0, &segment{seq: peerISS, flags: FlagSYN, wnd: 0, opts: SegmentOptions{HasMSS: true, MSS: 1460}})
			c.handleSegment(t0, &segment{seq: peerISS + 1, ack: testISS + 1, flags: FlagACK})
			c.out = c.out[:0]
			cores[i] = c
		}
		before := heapInuse()
		queued := 0
		for _, c := range cores {
			queued += c.write(t0, msg)
			c.out = c.out[:0]
		}
		after := heapInuse()
		b.ReportMetric(float64(int64(after)-int64(before))/(1<<20), "heapMiB")
		b.ReportMetric(float64(queued)/(1<<20), "queuedMiB")
		runtime.KeepAlive(cores)
	}
}
