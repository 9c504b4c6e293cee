package web

import (
	"testing"
	"time"
)

// BenchmarkSampleRound is one round of the sampler over 32 moving
// connections (what runs every SampleInterval while someone polls),
// without the cost of reading them from tcp.
func BenchmarkSampleRound(b *testing.B) {
	f := &fakeConns{}
	for p := range uint16(32) {
		f.ds = append(f.ds, conn(1000+p, 0, 1, 1, 1))
	}
	s := testSampler(f, Options{})
	now := time.Unix(0, 0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range f.ds {
			f.ds[j].SndMax = uint32(1 + 1448*(i+1))
			f.ds[j].SndNxt, f.ds[j].SndUna = f.ds[j].SndMax, f.ds[j].SndMax-1448
		}
		now = now.Add(10 * time.Millisecond)
		s.sampleLocked(now)
	}
}

// BenchmarkSnapshotGraphs is the graphs of one /status.json poll with 32 sampled
// connections of 600 samples each.
func BenchmarkSnapshotGraphs(b *testing.B) {
	f := &fakeConns{}
	for p := range uint16(32) {
		f.ds = append(f.ds, conn(1000+p, 0, 1, 1, 1))
	}
	s := testSampler(f, Options{})
	now := time.Unix(0, 0)
	for i := range 600 {
		for j := range f.ds {
			f.ds[j].SndMax = uint32(1 + 1448*(i+1))
			f.ds[j].SndNxt = f.ds[j].SndMax
		}
		now = now.Add(10 * time.Millisecond)
		s.sampleLocked(now)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.graphs(400)
	}
}
