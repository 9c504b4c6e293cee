package arp_test

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/stack"
)

// staleFixture returns a fixture whose entry for peerIP is STALE (resolved,
// then ReachableTime passed), with no frames recorded.
func staleFixture(t *testing.T, opts arp.Options) *fixture {
	t.Helper()
	f := newFixture(t, opts)
	f.send(peerIP, "x")
	f.reply(peerIP, peerMAC)
	f.clk.Advance(arp.DefaultReachableTime) // Rand is 0.5: exactly 1×
	if e, _ := f.entry(peerIP); e.State != arp.Stale {
		t.Fatalf("entry %+v, want STALE", e)
	}
	f.link.Take()
	return f
}

// checkState fails unless peerIP's entry is in state want.
func (f *fixture) checkState(want arp.State) {
	f.t.Helper()
	if e, ok := f.entry(peerIP); !ok || e.State != want {
		f.t.Fatalf("entry %+v (present %v), want %v", e, ok, want)
	}
}

// checkUnicastProbe fails unless frames is exactly one unicast request for
// peerIP to peerMAC.
func checkUnicastProbe(t *testing.T, frames []frame) {
	t.Helper()
	if len(frames) != 1 {
		t.Fatalf("sent %d frames, want one unicast probe: %+v", len(frames), frames)
	}
	a := decodeARP(t, frames[0])
	want := arp.Fields{Op: arp.OpRequest, SenderMAC: ourMAC, SenderIP: ourIP, TargetIP: peerIP}
	if frames[0].Dst != peerMAC || a != want {
		t.Fatalf("probe %+v to %v, want %+v to %v", a, frames[0].Dst, want, peerMAC)
	}
}

// TestDelayProbeFailed: a STALE entry in use goes DELAY, then PROBE with
// UcastProbes unicast requests RetransTime apart, then FAILED.
func TestDelayProbeFailed(t *testing.T) {
	f := staleFixture(t, arp.Options{})
	f.send(peerIP, "through stale")
	if frames := f.link.Take(); len(frames) != 1 || frames[0].Dst != peerMAC {
		t.Fatalf("send through STALE: %+v", frames)
	}
	f.checkState(arp.Delay)
	f.clk.Advance(arp.DefaultDelayFirstProbeTime - time.Millisecond)
	f.checkState(arp.Delay)
	if frames := f.link.Take(); len(frames) != 0 {
		t.Fatalf("DELAY sent %+v", frames)
	}
	f.clk.Advance(time.Millisecond)
	f.checkState(arp.Probe)
	checkUnicastProbe(t, f.link.Take())
	// PROBE entries are still used.
	f.send(peerIP, "while probing")
	if frames := f.link.Take(); len(frames) != 1 || frames[0].Dst != peerMAC || string(frames[0].Data) != "while probing" {
		t.Fatalf("send while PROBE: %+v", frames)
	}
	for i := 2; i <= arp.DefaultUcastProbes; i++ {
		f.clk.Advance(arp.DefaultRetransTime)
		f.checkState(arp.Probe)
		checkUnicastProbe(t, f.link.Take())
	}
	f.clk.Advance(arp.DefaultRetransTime)
	f.checkState(arp.Failed)
	if frames := f.link.Take(); len(frames) != 0 {
		t.Fatalf("FAILED sent %+v", frames)
	}
	if e, _ := f.entry(peerIP); e.MAC != (stack.MAC{}) || e.Flags != 0 {
		t.Fatalf("FAILED entry keeps %+v", e)
	}
	if n := f.counter("arp.tx.unicast_probes"); n != arp.DefaultUcastProbes {
		t.Errorf("arp.tx.unicast_probes = %d", n)
	}
	// The next send resolves afresh, by broadcast.
	f.send(peerIP, "again")
	frames := f.link.Take()
	if len(frames) != 1 || frames[0].Dst != stack.BroadcastMAC {
		t.Fatalf("send after FAILED: %+v", frames)
	}
	f.checkState(arp.Incomplete)
}

func TestDelayProbeConfirmed(t *testing.T) {
	tests := []struct {
		name string
		// confirm runs at the given point and says whether it confirmed.
		afterProbes int
		confirm     func(f *fixture)
		confirmed   bool
	}{
		{"reply in DELAY", 0, func(f *fixture) { f.reply(peerIP, peerMAC) }, true},
		{"reply in PROBE", 1, func(f *fixture) { f.reply(peerIP, peerMAC) }, true},
		{"reply after two probes", 2, func(f *fixture) { f.reply(peerIP, peerMAC) }, true},
		// A broadcast request from the neighbour says nothing about our
		// path to it: no confirmation (as in Linux).
		{"request in DELAY", 0, func(f *fixture) { f.request(peerIP, peerMAC, ourIP) }, false},
		// A reply to someone else (broadcast) does not confirm either.
		{"broadcast reply in PROBE", 1, func(f *fixture) {
			f.deliver(arp.Fields{Op: arp.OpReply, SenderMAC: peerMAC, SenderIP: peerIP, TargetIP: ourIP}, stack.BroadcastMAC)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := staleFixture(t, arp.Options{})
			f.send(peerIP, "x")
			if tt.afterProbes > 0 {
				f.clk.Advance(arp.DefaultDelayFirstProbeTime + time.Duration(tt.afterProbes-1)*arp.DefaultRetransTime)
			}
			f.link.Take()
			tt.confirm(f)
			f.link.Take() // our answer to a request
			if !tt.confirmed {
				f.clk.Advance(arp.DefaultDelayFirstProbeTime + time.Duration(arp.DefaultUcastProbes)*arp.DefaultRetransTime)
				f.checkState(arp.Failed)
				return
			}
			f.checkState(arp.Reachable)
			// No more probes; REACHABLE for ReachableTime.
			f.clk.Advance(arp.DefaultReachableTime - time.Millisecond)
			if frames := f.link.Take(); len(frames) != 0 {
				t.Fatalf("probed after confirmation: %+v", frames)
			}
			f.checkState(arp.Reachable)
		})
	}
}

// TestReachableTimeRandomised: each confirmation draws a REACHABLE time in
// [0.5, 1.5) × ReachableTime from Rand.
func TestReachableTimeRandomised(t *testing.T) {
	for _, tt := range []struct {
		r    float64
		want time.Duration
	}{{0, 15 * time.Second}, {0.5, 30 * time.Second}, {0.9, 42 * time.Second}} {
		f := newFixture(t, arp.Options{Rand: func() float64 { return tt.r }})
		f.send(peerIP, "x")
		f.reply(peerIP, peerMAC)
		f.clk.Advance(tt.want - time.Millisecond)
		f.checkState(arp.Reachable)
		f.clk.Advance(time.Millisecond)
		f.checkState(arp.Stale)
	}
	// A seeded source spreads entries over [15s, 45s).
	rng := rand.New(rand.NewPCG(7, 7))
	f := newFixture(t, arp.Options{Rand: rng.Float64})
	const n = 50
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)})
		f.send(ip, "x")
		f.reply(ip, peerMAC)
	}
	staleAt := map[time.Duration]int{}
	for step := time.Duration(0); step < 46*time.Second; step += time.Second {
		stale := 0
		for _, e := range f.arp.Entries() {
			if e.State == arp.Stale {
				stale++
			}
		}
		staleAt[step] = stale
		f.clk.Advance(time.Second)
	}
	if staleAt[14*time.Second] != 0 || staleAt[45*time.Second] != n {
		t.Fatalf("stale entries by time: %v", staleAt)
	}
	if staleAt[30*time.Second] == 0 || staleAt[30*time.Second] == n {
		t.Fatalf("not randomised: %d of %d stale at 30s", staleAt[30*time.Second], n)
	}
}

// TestRequestRateLimit: a burst of resolutions sends at most RequestBurst
// requests; the bucket refills at RequestRate.
func TestRequestRateLimit(t *testing.T) {
	f := newFixture(t, arp.Options{RequestRate: 1, RequestBurst: 2, MaxProbes: 1, RetransTime: 10 * time.Second})
	for i := range 5 {
		f.send(netip.AddrFrom4([4]byte{10, 0, 0, byte(100 + i)}), "x")
	}
	if frames := f.link.Take(); len(frames) != 2 {
		t.Fatalf("sent %d requests, want 2 (the burst)", len(frames))
	}
	if n := f.counter("arp.tx.rate_limited"); n != 3 {
		t.Fatalf("arp.tx.rate_limited = %d, want 3", n)
	}
	f.clk.Advance(time.Second)
	f.send(netip.MustParseAddr("10.0.0.200"), "x")
	f.send(netip.MustParseAddr("10.0.0.201"), "x")
	if frames := f.link.Take(); len(frames) != 1 {
		t.Fatalf("after 1s sent %d requests, want 1", len(frames))
	}
	// Replies are never limited.
	f.request(peerIP, peerMAC, ourIP)
	if frames := f.link.Take(); len(frames) != 1 {
		t.Fatalf("request not answered while rate limited: %+v", frames)
	}
	f.clk.Advance(10 * time.Second)
	f.ip.TakeFailures()
}
