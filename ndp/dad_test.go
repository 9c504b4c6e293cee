package ndp_test

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

var tentative = netip.MustParseAddr("fd00::9")

func (f *fixture) linkFrames() int { return f.link.Len() }

// probeAsync starts Probe for addr in a goroutine and waits (bounded) until
// its first solicitation is out, returning the result channel and that NS.
func (f *fixture) probeAsync(addr netip.Addr) (chan error, sent) {
	f.t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f.ndp.Probe(context.Background(), f.nic, addr) }()
	deadline := time.Now().Add(10 * time.Second)
	for f.linkFrames() == 0 {
		if time.Now().After(deadline) {
			f.t.Fatal("Probe did not start within 10s")
		}
		time.Sleep(time.Millisecond) // polling a bounded wait, not synchronising on time
	}
	msgs := f.takeMsgs()
	if len(msgs) != 1 {
		f.t.Fatalf("Probe sent %d messages, want 1 NS", len(msgs))
	}
	return ch, msgs[0]
}

// TestDADProbe_RFC4862_5_4_2: a probe is an NS from :: to the
// solicited-node address, without SLLAO, with a nonce (RFC 7527); the group
// is joined during DAD and left after; no answer within RetransTimer means
// the address is free.
func TestDADProbe_RFC4862_5_4_2(t *testing.T) {
	f := newFixture(t, ndp.Options{})
	ch, ns := f.probeAsync(tentative)
	sn := stack.SolicitedNodeAddress(tentative)
	if ns.src != netip.IPv6Unspecified() || ns.dst != sn || ns.msg.Type() != ndp.TypeNeighborSolicitation {
		t.Fatalf("probe %v -> %v type %d", ns.src, ns.dst, ns.msg.Type())
	}
	got := ns.msg.NeighborSolicitation()
	if got.Target != tentative || !got.SourceLinkAddr.IsZero() || got.Nonce == ([6]byte{}) {
		t.Fatalf("probe fields %+v", got)
	}
	if !f.nic.IsMember(sn) {
		t.Fatal("solicited-node group not joined during DAD")
	}
	f.clk.Advance(ndp.DefaultRetransTimer)
	if err := <-ch; err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if f.nic.IsMember(sn) {
		t.Fatal("solicited-node group not left after DAD")
	}
}

// TestDADConflict_RFC4862_5_4: an NA for the tentative address, or another
// node's DAD NS for it, is a conflict naming the other MAC; our own NS
// looped back (same nonce) and an NS from a unicast source are not.
func TestDADConflict_RFC4862_5_4(t *testing.T) {
	tests := []struct {
		name     string
		deliver  func(f *fixture, ours sent)
		conflict bool
	}{
		{"NA for the address (5.4.4)", func(f *fixture, _ sent) { f.na(tentative, otherMAC, false, true, false) }, true},
		{"NS from :: by another node (5.4.3)", func(f *fixture, _ sent) {
			m := ndp.NeighborSolicitation{Target: tentative, Nonce: [6]byte{9, 9, 9, 9, 9, 9}}
			f.deliverMsg(encode(&m), netip.IPv6Unspecified(), stack.SolicitedNodeAddress(tentative), 255, otherMAC)
		}, true},
		{"own NS looped back (RFC 7527 nonce)", func(f *fixture, ours sent) {
			f.deliverMsg(append([]byte(nil), ours.msg...), netip.IPv6Unspecified(), ours.dst, 255, otherMAC)
		}, false},
		{"NS from a unicast source is ignored (5.4.3)", func(f *fixture, _ sent) { f.ns(peerIP, otherMAC, tentative) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ndp.Options{})
			ch, ours := f.probeAsync(tentative)
			tt.deliver(f, ours)
			if msgs := f.takeMsgs(); len(msgs) != 0 {
				t.Fatalf("answered during DAD: %+v", msgs)
			}
			if !tt.conflict {
				f.clk.Advance(ndp.DefaultRetransTimer)
				if err := <-ch; err != nil {
					t.Fatalf("Probe: %v", err)
				}
				return
			}
			err := <-ch
			var ce *ndp.ConflictError
			if !errors.As(err, &ce) || ce.MAC != otherMAC || ce.Addr != tentative || !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("Probe: %v, want a conflict with %v", err, otherMAC)
			}
			if want := "fd00::9 is already in use by 02:00:00:00:00:03 (on eth0)"; err.Error() != want {
				t.Fatalf("error %q, want %q", err, want)
			}
		})
	}
}

// TestDADTwoStacks: a second stack probing for an address the first has
// gets a conflict naming the first's MAC (issue 14 acceptance 4).
func TestDADTwoStacks(t *testing.T) {
	a := newFixture(t, ndp.Options{})
	b := newBareFixture(t, ndp.Options{})
	b.link.SetMAC(otherMAC)
	stacktest.Connect(a.link, b.link)
	err := b.ndp.ProbeAndAdd(context.Background(), b.nic, netip.MustParsePrefix("fd00::2/64"))
	var ce *ndp.ConflictError
	if !errors.As(err, &ce) || ce.MAC != ourMAC {
		t.Fatalf("ProbeAndAdd: %v, want a conflict with %v", err, ourMAC)
	}
	if b.nic.HasAddress(ourIP) {
		t.Fatal("conflicting address was added")
	}
	a.link.Take()
	b.link.Take()
}
