package web

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/tapstack/tapstack/tcp"
)

// fakeConns is a details source the tests move by hand.
type fakeConns struct{ ds []tcp.ConnDetail }

func (f *fakeConns) details(dst []tcp.ConnDetail) []tcp.ConnDetail { return append(dst, f.ds...) }

func conn(port uint16, iss, una, nxt, max uint32) tcp.ConnDetail {
	d := tcp.ConnDetail{ISS: iss, SndUna: una, SndNxt: nxt, SndMax: max, SndWnd: 65535, IRS: 7, RcvNxt: 8, RcvAdvRight: 8 + 65535, Cwnd: 14600}
	d.Local = netip.MustParseAddrPort("10.0.0.2:80")
	d.Remote = netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port)
	d.State = "ESTABLISHED"
	return d
}

func testSampler(f *fakeConns, o Options) *sampler {
	o.defaults()
	return newSampler(f.details, o)
}

// TestSamplerRecordsChanges: a sample is kept only when the sequence
// space moved; numbers are relative to ISS+1, unwrapped across 2^32
// (RFC 9293 3.4: sequence numbers wrap).
func TestSamplerRecordsChanges(t *testing.T) {
	var iss uint32 = 0xffff_fff0 // wraps after 15 bytes
	f := &fakeConns{[]tcp.ConnDetail{conn(1000, iss, iss+1, iss+1, iss+1)}}
	s := testSampler(f, Options{})
	t0 := time.Unix(0, 0)
	s.sampleLocked(t0)
	s.sampleLocked(t0.Add(10 * time.Millisecond)) // nothing moved
	f.ds[0].SndNxt, f.ds[0].SndMax = iss+1+1000, iss+1+1000
	s.sampleLocked(t0.Add(20 * time.Millisecond))
	f.ds[0].SndUna = iss + 1 + 1000
	s.sampleLocked(t0.Add(30 * time.Millisecond))
	g, untaken := s.graphs(400)
	if untaken != 0 || len(g) != 1 {
		t.Fatalf("%d graphs, %d untaken", len(g), untaken)
	}
	var rows [][]int64
	for _, gr := range g {
		rows = gr.Samples
	}
	want := [][]int64{ // t, una, nxt, max
		{0, 0, 0, 0},
		{20, 0, 1000, 1000},
		{30, 1000, 1000, 1000},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	for i := range want {
		for j := range want[i] {
			if rows[i][j] != want[i][j] {
				t.Errorf("row %d: %v, want %v...", i, rows[i][:4], want[i])
				break
			}
		}
	}
	if rows[2][4] != 1000+65535 {
		t.Errorf("window edge %d, want una+wnd %d", rows[2][4], 1000+65535)
	}
}

// TestSamplerRetransmission: SND.NXT going back behind SND.MAX (go-back-N
// after an RTO, RFC 6298 5.4) flags the sample and counts one episode
// however many samples it lasts; SACK blocks are carried.
func TestSamplerRetransmission(t *testing.T) {
	f := &fakeConns{[]tcp.ConnDetail{conn(1000, 99, 100, 5100, 5100)}}
	s := testSampler(f, Options{})
	now := time.Unix(0, 0)
	step := func() { now = now.Add(10 * time.Millisecond); s.sampleLocked(now) }
	step()
	f.ds[0].SndNxt = 1100 // retransmitting from 1000
	f.ds[0].SACK[0], f.ds[0].NumSACK = tcp.SACKBlock{Left: 2100, Right: 3100}, 1
	step()
	f.ds[0].SndNxt = 2100
	step()
	f.ds[0].SndNxt, f.ds[0].SndUna, f.ds[0].NumSACK = 5100, 5100, 0
	step()
	g, _ := s.graphs(400)
	for _, gr := range g {
		if gr.Retrans != 1 {
			t.Errorf("retransmission episodes %d, want 1", gr.Retrans)
		}
		r := gr.Samples[1]
		if r[8]&flagRetrans == 0 || len(r) != 11 || r[9] != 2000 || r[10] != 3000 {
			t.Errorf("retransmitting sample %v: want flag 1 and SACK block 2000-3000", r)
		}
	}
}

// TestSamplerBounds: at most MaxGraphConns connections get a history, a
// history keeps the last MaxGraphSamples samples, a snapshot thins a graph
// to MaxGraphPoints keeping the last, and a connection that is gone loses
// its history.
func TestSamplerBounds(t *testing.T) {
	f := &fakeConns{}
	for p := range uint16(5) {
		f.ds = append(f.ds, conn(1000+p, 0, 1, 1, 1))
	}
	s := testSampler(f, Options{MaxGraphConns: 3, MaxGraphSamples: 8})
	now := time.Unix(0, 0)
	for i := range 20 {
		for j := range f.ds {
			f.ds[j].SndMax = uint32(1 + 100*(i+1))
			f.ds[j].SndNxt = f.ds[j].SndMax
		}
		now = now.Add(10 * time.Millisecond)
		s.sampleLocked(now)
	}
	g, untaken := s.graphs(5)
	if len(g) != 3 || untaken != 2 {
		t.Fatalf("%d graphs, %d untaken; want 3 and 2", len(g), untaken)
	}
	for id, gr := range g {
		if len(gr.Samples) > 5 {
			t.Errorf("%s: %d points, want at most 5", id, len(gr.Samples))
		}
		if last := gr.Samples[len(gr.Samples)-1]; last[3] != 2000 {
			t.Errorf("%s: last point %v, want snd_max 2000", id, last)
		}
		if first := gr.Samples[0]; first[3] != 1300 {
			t.Errorf("%s: first point %v, want snd_max 1300 (the ring keeps 8)", id, first)
		}
	}
	f.ds = f.ds[:0]
	s.sampleLocked(now.Add(time.Second))
	if g, _ := s.graphs(5); len(g) != 0 {
		t.Errorf("%d graphs of closed connections", len(g))
	}
}

// TestSamplerRunsOnlyWhilePolled: poke starts the goroutine, it ends by
// itself once nobody polls for SampleIdle and drops the histories, and
// close waits for it.
func TestSamplerRunsOnlyWhilePolled(t *testing.T) {
	before := runtime.NumGoroutine()
	f := &fakeConns{[]tcp.ConnDetail{conn(1000, 0, 1, 1, 1)}}
	s := testSampler(f, Options{SampleInterval: time.Millisecond, SampleIdle: time.Millisecond})
	s.poke()
	if g, _ := s.graphs(10); len(g) != 1 {
		t.Fatalf("the first poke took no sample: %d graphs", len(g))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.isRunning() {
		if time.Now().After(deadline) {
			t.Fatal("the sampler runs on with nobody polling")
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	if g, _ := s.graphs(10); len(g) != 0 {
		t.Errorf("%d histories kept after the sampler stopped", len(g))
	}
	s2 := testSampler(f, Options{SampleInterval: time.Millisecond, SampleIdle: time.Hour})
	s2.poke()
	s2.close()
	s.close()
	if s2.isRunning() {
		t.Error("running after close")
	}
	s2.poke() // after close: starts nothing
	for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(time.Millisecond)
	}
}
