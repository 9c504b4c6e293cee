package arp_test

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/stack"
)

// probe runs Probe for addr on f's NIC in a goroutine and drives the
// virtual clock, timer by timer, until it returns. It returns Probe's error
// and the virtual time it took.
func (f *fixture) probe(ctx context.Context, addr netip.Addr) (error, time.Duration) {
	f.t.Helper()
	start := f.clk.Now()
	done := make(chan error, 1)
	go func() { done <- f.arp.Probe(ctx, f.nic, addr) }()
	guard := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			return err, f.clk.Now().Sub(start)
		default:
		}
		if !f.clk.RunNext() {
			runtime.Gosched()
		}
		if time.Now().After(guard) {
			f.t.Fatal("Probe did not return")
		}
	}
}

var probedIP = netip.MustParseAddr("10.0.0.7")

func TestProbeNoConflict(t *testing.T) {
	f := newFixture(t, arp.Options{})
	err, took := f.probe(context.Background(), probedIP)
	if err != nil {
		t.Fatal(err)
	}
	// Rand is 0.5: 0.5s first wait, probes 1.5s apart, 2s after the last.
	if want := 500*time.Millisecond + 2*1500*time.Millisecond + 2*time.Second; took != want {
		t.Errorf("probing took %v of virtual time, want %v", took, want)
	}
	frames := f.link.Take()
	if len(frames) != arp.DefaultProbeNum {
		t.Fatalf("sent %d frames, want %d probes", len(frames), arp.DefaultProbeNum)
	}
	for _, fr := range frames {
		a := decodeARP(t, fr)
		want := arp.Fields{Op: arp.OpRequest, SenderMAC: ourMAC, SenderIP: netip.IPv4Unspecified(), TargetIP: probedIP}
		if fr.Dst != stack.BroadcastMAC || a != want {
			t.Errorf("probe %+v to %v, want %+v to broadcast", a, fr.Dst, want)
		}
	}
	if n := f.counter("arp.tx.probes"); n != 3 {
		t.Errorf("arp.tx.probes = %d", n)
	}
}

func TestProbeOptions(t *testing.T) {
	f := newFixture(t, arp.Options{ProbeNum: 2, ProbeWait: 10 * time.Millisecond, ProbeMin: 20 * time.Millisecond, ProbeMax: 40 * time.Millisecond, AnnounceWait: 100 * time.Millisecond})
	err, took := f.probe(context.Background(), probedIP)
	if err != nil {
		t.Fatal(err)
	}
	if want := 5*time.Millisecond + 30*time.Millisecond + 100*time.Millisecond; took != want {
		t.Errorf("probing took %v, want %v", took, want)
	}
	if n := len(f.link.Take()); n != 2 {
		t.Errorf("%d probes, want 2", n)
	}
}

// TestProbeConflictReply probes for an address another stack has: it
// answers our first probe, and Probe names its MAC.
func TestProbeConflictReply(t *testing.T) {
	a := newFixture(t, arp.Options{})
	b := newFixture(t, arp.Options{})
	b.link.SetMAC(peerMAC)
	b.nic.RemoveAddress(ourIP)
	if err := b.nic.AddAddress(netip.MustParsePrefix("10.0.0.7/24")); err != nil {
		t.Fatal(err)
	}
	stacktest.Connect(a.link, b.link)
	a.link.Take()
	b.link.Take()

	err, _ := a.probe(context.Background(), probedIP)
	var ce *arp.ConflictError
	if !errors.As(err, &ce) || ce.MAC != peerMAC || ce.Addr != probedIP || ce.NIC != "eth0" {
		t.Fatalf("Probe = %v, want a conflict with %v", err, peerMAC)
	}
	if !errors.Is(err, stack.ErrAddressInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("%v does not unwrap to EADDRINUSE", err)
	}
	if want := "10.0.0.7 is already in use by 02:00:00:00:00:01 (on eth0)"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// The conflict ended probing at once: one probe.
	if n := a.counter("arp.tx.probes"); n != 1 {
		t.Errorf("%d probes sent, want 1", n)
	}
	// b answered, and did not learn a from its probe.
	if n := b.counter("arp.tx.replies"); n != 1 {
		t.Errorf("b sent %d replies", n)
	}
	if es := b.arp.Entries(); len(es) != 0 {
		t.Errorf("b learnt from a probe: %+v", es)
	}
}

// TestProbeConflictInbound delivers, while Probe runs, ARP packets that do
// or do not conflict.
func TestProbeConflictInbound(t *testing.T) {
	tests := []struct {
		name     string
		in       arp.Fields
		conflict bool
	}{
		{"another host's probe", arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: netip.IPv4Unspecified(), TargetIP: probedIP}, true},
		{"an announcement", arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: probedIP, TargetIP: probedIP}, true},
		{"a request from the address", arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: probedIP, TargetIP: peerIP}, true},
		{"a broadcast reply", arp.Fields{Op: arp.OpReply, SenderMAC: otherMAC, SenderIP: probedIP, TargetIP: probedIP}, true},
		{"our own probe looped back", arp.Fields{Op: arp.OpRequest, SenderMAC: ourMAC, SenderIP: netip.IPv4Unspecified(), TargetIP: probedIP}, false},
		{"a probe for another address", arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: netip.IPv4Unspecified(), TargetIP: otherIP}, false},
		{"a request for the address", arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: otherIP, TargetIP: probedIP}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, arp.Options{})
			sent := 0
			f.link.SetHook(func(fr frame) {
				sent++
				if sent == 2 { // after the second probe
					f.deliver(tt.in, stack.BroadcastMAC)
				}
			})
			err, _ := f.probe(context.Background(), probedIP)
			if !tt.conflict {
				if err != nil {
					t.Fatalf("Probe = %v, want no conflict", err)
				}
				return
			}
			var ce *arp.ConflictError
			if !errors.As(err, &ce) || ce.MAC != otherMAC {
				t.Fatalf("Probe = %v, want a conflict with %v", err, otherMAC)
			}
			if sent != 2 || f.counter("arp.acd.conflict") != 1 {
				t.Errorf("%d probes sent, arp.acd.conflict = %d; want 2, 1", sent, f.counter("arp.acd.conflict"))
			}
		})
	}
}

func TestProbeCanceledAndInvalid(t *testing.T) {
	f := newFixture(t, arp.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	f.link.SetHook(func(frame) { cancel() })
	if err, _ := f.probe(ctx, probedIP); !errors.Is(err, context.Canceled) {
		t.Fatalf("Probe = %v, want context.Canceled", err)
	}
	for _, a := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("224.0.0.5")} {
		if err := f.arp.Probe(context.Background(), f.nic, a); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Probe(%v) = %v, want EINVAL", a, err)
		}
	}
}

// TestDefendRateLimit: a host claiming our address is answered with one
// announcement per DefendInterval.
func TestDefendRateLimit(t *testing.T) {
	f := newFixture(t, arp.Options{})
	claim := arp.Fields{Op: arp.OpRequest, SenderMAC: otherMAC, SenderIP: ourIP, TargetIP: ourIP}
	steps := []struct {
		after  time.Duration
		defend bool
	}{
		{0, true},
		{time.Second, false},
		{arp.DefaultDefendInterval - time.Second - time.Millisecond, false},
		{time.Millisecond, true},
		{time.Second, false},
	}
	for i, st := range steps {
		f.clk.Advance(st.after)
		f.deliver(claim, stack.BroadcastMAC)
		frames := f.link.Take()
		if !st.defend {
			if len(frames) != 0 {
				t.Fatalf("step %d: sent %+v, want nothing (rate limited)", i, frames)
			}
			continue
		}
		if len(frames) != 1 {
			t.Fatalf("step %d: sent %d frames, want one announcement", i, len(frames))
		}
		if a := decodeARP(t, frames[0]); a.SenderIP != ourIP || a.TargetIP != ourIP || a.SenderMAC != ourMAC || a.Op != arp.OpRequest {
			t.Fatalf("step %d: defence %+v", i, a)
		}
	}
	for name, want := range map[string]uint64{"arp.rx.conflict": 5, "arp.tx.defend": 2, "arp.tx.defend_limited": 3} {
		if n := f.counter(name); n != want {
			t.Errorf("%s = %d, want %d", name, n, want)
		}
	}
	// The claimant was not learnt.
	if es := f.arp.Entries(); len(es) != 0 {
		t.Errorf("entries %+v", es)
	}
}

func TestProbeEndsOnClose(t *testing.T) {
	f := newFixture(t, arp.Options{})
	done := make(chan error, 1)
	go func() { done <- f.arp.Probe(context.Background(), f.nic, probedIP) }()
	// The clock never moves: only Close can end the Probe (or refuse it,
	// if Close comes first).
	f.arp.Close()
	select {
	case err := <-done:
		if !errors.Is(err, stack.ErrClosed) {
			t.Fatalf("Probe = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Probe did not end on Close")
	}
}

func TestProbeAndAdd(t *testing.T) {
	a := newFixture(t, arp.Options{})
	b := newFixture(t, arp.Options{})
	b.link.SetMAC(peerMAC)
	b.nic.RemoveAddress(ourIP)
	stacktest.Connect(a.link, b.link)
	a.link.Take()

	// b takes 10.0.0.7 (free), then a cannot.
	run := func(f *fixture, addr string) error {
		done := make(chan error, 1)
		go func() { done <- f.arp.ProbeAndAdd(context.Background(), f.nic, netip.MustParsePrefix(addr)) }()
		guard := time.Now().Add(10 * time.Second)
		for {
			select {
			case err := <-done:
				return err
			default:
			}
			if !f.clk.RunNext() {
				runtime.Gosched()
			}
			if time.Now().After(guard) {
				t.Fatal("ProbeAndAdd did not return")
			}
		}
	}
	if err := run(b, "10.0.0.7/24"); err != nil {
		t.Fatal(err)
	}
	if !b.nic.HasAddress(probedIP) {
		t.Fatal("address not added")
	}
	err := run(a, "10.0.0.7/24")
	if !errors.Is(err, syscall.EADDRINUSE) || a.nic.HasAddress(probedIP) {
		t.Fatalf("ProbeAndAdd of b's address = %v (added: %v), want EADDRINUSE and not added", err, a.nic.HasAddress(probedIP))
	}
}
