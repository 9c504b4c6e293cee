package lacp

import (
	"testing"
	"time"
)

// TestPassiveLACP (802.1AX-2014 6.4.13 and 6.4.16, Linux's
// lacp_active=off): the periodic machine of a port is in NO_PERIODIC
// while both its actor and its partner are passive, and then the
// transmit machine sends nothing, even on NTT. So a passive system
// alone, or facing another passive one, never sends an LACPDU and never
// aggregates; facing an active partner it answers the partner's first
// LACPDU, then sends periodically, and the two aggregate; and when the
// active partner falls silent, the passive port, back on the (passive)
// default partner, falls silent too.
func TestPassiveLACP(t *testing.T) {
	tests := []struct {
		name               string
		aPassive, bPassive bool
		aggregate          bool
	}{
		{"active and active aggregate", false, false, true},
		{"passive answers an active partner", true, false, true},
		{"active partner of a passive one", false, true, true},
		{"passive and passive stay silent", true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newPairWith(2, Config{Fast: true, Passive: tt.aPassive}, Config{Fast: true, Passive: tt.bPassive})
			both := func() bool { return distributing(w.a, 0, 1) && distributing(w.b, 0, 1) }
			w.step() // a ticks before b: a passive a has heard nothing yet
			if tt.aPassive && w.sent[0] != 0 {
				t.Fatalf("passive a sent %d LACPDUs before its partner spoke", w.sent[0])
			}
			took, ok := w.run(10*time.Second, both)
			if ok != tt.aggregate {
				t.Fatalf("aggregated %v after %v, want %v (a sent %d LACPDUs, b %d)", ok, took, tt.aggregate, w.sent[0], w.sent[1])
			}
			if !tt.aggregate {
				if w.sent != [2]int{} {
					t.Errorf("two passive systems sent %d and %d LACPDUs", w.sent[0], w.sent[1])
				}
				return
			}
			if got := w.a.ports[0].Actor().State.Has(StateActivity); got == tt.aPassive {
				t.Errorf("a's LACP_Activity %v with Passive %v", got, tt.aPassive)
			}
			// Aggregated, a passive port transmits periodically like an
			// active one: its partner is active.
			before := w.sent
			w.run(5*time.Second, func() bool { return false })
			for side := range 2 {
				if n := w.sent[side] - before[side]; n < 8 {
					t.Errorf("side %d sent %d LACPDUs in 5 s (2 ports, fast) while aggregated", side, n)
				}
			}
		})
	}
	// A passive port whose active partner goes silent defaults to the
	// passive administrative partner and stops sending.
	w := newPairWith(1, Config{Fast: true, Passive: true}, Config{Fast: true})
	if _, ok := w.run(10*time.Second, func() bool { return distributing(w.a, 0) }); !ok {
		t.Fatal("passive and active did not aggregate")
	}
	w.b.SetEnabled(w.clk.Now(), w.b.ports[0], false) // b stops speaking
	if _, ok := w.run(10*time.Second, func() bool { return w.a.ports[0].RxState() == RxDefaulted }); !ok {
		t.Fatalf("the passive port did not default: %v", w.a.ports[0].RxState())
	}
	before := w.sent[0]
	w.run(10*time.Second, func() bool { return false })
	if n := w.sent[0] - before; n != 0 {
		t.Errorf("the passive port on its default partner sent %d LACPDUs in 10 s", n)
	}
}
