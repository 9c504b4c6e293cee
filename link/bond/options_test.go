package bond

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/lacp"
	"github.com/tapstack/tapstack/stack"
)

// miiOf returns slave i's MII Status as /proc/net/bonding prints it.
func miiOf(b *Bond, i int) string { return miiStatus(b.Status().Slaves[i]) }

// TestMIIUpDelayDownDelay checks Linux bonding's updelay and downdelay
// (Documentation/networking/bonding.rst): miimon sees a carrier change
// at once, but the slave goes down only when the carrier stayed down
// for downdelay ("going down" meanwhile, still carrying), and comes
// back only when it stayed up for updelay ("going back"), also when the
// bond starts; a flap shorter than the delay changes nothing.
func TestMIIUpDelayDownDelay(t *testing.T) {
	const poll = 100 * time.Millisecond
	tests := []struct {
		name string
		cfg  Config
		run  func(t *testing.T, b *Bond, carrier []*atomic.Bool, clk *vclock.Clock)
	}{
		{"downdelay: down once the carrier stayed down that long", Config{Primary: "ta0", DownDelay: 300 * time.Millisecond}, func(t *testing.T, b *Bond, carrier []*atomic.Bool, clk *vclock.Clock) {
			carrier[0].Store(false)
			clk.Advance(poll) // seen
			clk.Advance(2 * poll)
			if got := miiOf(b, 0); got != "going down" || !slices.Equal(txSlaves(b), []string{"ta0"}) {
				t.Fatalf("200 ms into the loss: MII %q, sends on %v; want going down, still ta0", got, txSlaves(b))
			}
			clk.Advance(poll)
			if got := miiOf(b, 0); got != "down" || !slices.Equal(txSlaves(b), []string{"ta1"}) || b.Status().Slaves[0].LinkFailures != 1 {
				t.Fatalf("300 ms into the loss: MII %q, sends on %v, failures %d; want down, ta1, 1", got, txSlaves(b), b.Status().Slaves[0].LinkFailures)
			}
		}},
		{"downdelay: a shorter flap is no failure", Config{Primary: "ta0", DownDelay: 300 * time.Millisecond}, func(t *testing.T, b *Bond, carrier []*atomic.Bool, clk *vclock.Clock) {
			carrier[0].Store(false)
			clk.Advance(2 * poll)
			carrier[0].Store(true)
			clk.Advance(5 * poll)
			if st := b.Status(); miiOf(b, 0) != "up" || st.Active != "ta0" || st.Failovers != 0 || st.Slaves[0].LinkFailures != 0 {
				t.Fatalf("after a 200 ms flap: MII %q, %+v", miiOf(b, 0), st)
			}
		}},
		{"updelay: back once the carrier stayed up that long", Config{Primary: "ta0", UpDelay: 500 * time.Millisecond}, func(t *testing.T, b *Bond, carrier []*atomic.Bool, clk *vclock.Clock) {
			clk.Advance(6 * poll) // past the delay at the start
			carrier[0].Store(false)
			clk.Advance(poll)
			if got := miiOf(b, 0); got != "down" || !slices.Equal(txSlaves(b), []string{"ta1"}) {
				t.Fatalf("without downdelay: MII %q, sends on %v", got, txSlaves(b))
			}
			carrier[0].Store(true)
			clk.Advance(poll) // seen
			clk.Advance(4 * poll)
			if got := miiOf(b, 0); got != "going back" || !slices.Equal(txSlaves(b), []string{"ta1"}) {
				t.Fatalf("400 ms after the return: MII %q, sends on %v; want going back, ta1", got, txSlaves(b))
			}
			clk.Advance(poll)
			if got := miiOf(b, 0); got != "up" || !slices.Equal(txSlaves(b), []string{"ta0"}) {
				t.Fatalf("500 ms after the return: MII %q, sends on %v; want up, ta0 (the primary)", got, txSlaves(b))
			}
		}},
		{"updelay: slaves come up after it when the bond starts", Config{UpDelay: 300 * time.Millisecond}, func(t *testing.T, b *Bond, carrier []*atomic.Bool, clk *vclock.Clock) {
			if got := miiOf(b, 0); got != "going back" || len(txSlaves(b)) != 0 {
				t.Fatalf("at the start: MII %q, sends on %v", got, txSlaves(b))
			}
			clk.Advance(3 * poll)
			if got := miiOf(b, 0); got != "up" || !slices.Equal(txSlaves(b), []string{"ta0"}) {
				t.Fatalf("after updelay: MII %q, sends on %v", got, txSlaves(b))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, carrier, clk, _ := abBond(t, tt.cfg)
			tt.run(t, b, carrier, clk)
			var sb strings.Builder
			b.Status().WriteProc(&sb)
			if want := fmt.Sprintf("Up Delay (ms): %d\nDown Delay (ms): %d\n", tt.cfg.UpDelay.Milliseconds(), tt.cfg.DownDelay.Milliseconds()); !strings.Contains(sb.String(), want) {
				t.Errorf("status lacks %q:\n%s", want, sb.String())
			}
		})
	}
}

// TestMinLinks checks Linux bonding's min_links (802.3ad): the bond
// carries traffic only while its active aggregator has at least
// min_links links distributing; below, it sends nothing and its MII
// Status is down; when a link returns it carries again.
func TestMinLinks(t *testing.T) {
	tests := []struct {
		name     string
		minLinks int
		oneLink  []string // what a sends on with one link left
	}{
		{"min_links 0: one link carries", 0, []string{"ta1"}},
		{"min_links 1: one link carries", 1, []string{"ta1"}},
		{"min_links 2: one link is too few", 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newLACPPairWith(t, Config{Hash: Layer34, MinLinks: tt.minLinks}, Config{Hash: Layer34})
			both := func() bool { return len(txSlaves(p.a)) == 2 && len(txSlaves(p.b)) == 2 }
			if _, ok := until(p.clk, 10*time.Second, both); !ok {
				t.Fatal("not aggregated")
			}
			p.wa[0].up.Store(false)
			if _, ok := until(p.clk, 10*time.Second, func() bool { return slices.Equal(txSlaves(p.b), []string{"tb1"}) }); !ok {
				t.Fatalf("b did not drop the silent link: %v", txSlaves(p.b))
			}
			p.clk.Advance(200 * time.Millisecond)
			if got := txSlaves(p.a); !slices.Equal(got, tt.oneLink) {
				t.Fatalf("with one link a sends on %v, want %v", got, tt.oneLink)
			}
			st := p.a.Status()
			if st.MIIUp != (tt.oneLink != nil) {
				t.Errorf("MII up %v with one link", st.MIIUp)
			}
			if tt.oneLink == nil {
				if err := p.a.WriteFrame(stack.NewPacketFrom(make([]byte, 60))); !errors.Is(err, ErrNoSlave) {
					t.Errorf("WriteFrame below min_links: %v, want ErrNoSlave", err)
				}
				var sb strings.Builder
				st.WriteProc(&sb)
				if !strings.Contains(sb.String(), "Min links: 2\n") || !strings.Contains(sb.String(), "Bonding Mode: IEEE 802.3ad Dynamic link aggregation\nTransmit Hash Policy: layer3+4 (1)\nMII Status: down\n") {
					t.Errorf("status:\n%s", sb.String())
				}
			}
			p.wa[0].up.Store(true)
			if _, ok := until(p.clk, 10*time.Second, both); !ok {
				t.Fatalf("not re-aggregated: %v %v", txSlaves(p.a), txSlaves(p.b))
			}
		})
	}
}

// TestLACPPassiveBond checks Linux's lacp_active=off (802.1AX-2014
// 6.4.13 NO_PERIODIC): a passive bond facing a passive bond sends no
// LACPDU and never aggregates; facing an active one it aggregates; its
// status says "LACP active: off" and its actor state lacks Activity.
func TestLACPPassiveBond(t *testing.T) {
	tests := []struct {
		name      string
		bPassive  bool
		aggregate bool
	}{
		{"passive facing active aggregates", false, true},
		{"passive facing passive stays silent", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newLACPPairWith(t, Config{LACPPassive: true}, Config{LACPPassive: tt.bPassive})
			_, ok := until(p.clk, 10*time.Second, func() bool { return len(txSlaves(p.a)) == 2 && len(txSlaves(p.b)) == 2 })
			if ok != tt.aggregate {
				t.Fatalf("aggregated %v, want %v", ok, tt.aggregate)
			}
			if !tt.aggregate {
				for i := range 2 {
					if n := p.wa[i].count(lacp.EtherType) + p.wb[i].count(lacp.EtherType); n != 0 {
						t.Errorf("wire %d carried %d LACPDUs between two passive bonds", i, n)
					}
				}
			}
			st := p.a.Status()
			if st.Slaves[0].Actor.State.Has(lacp.StateActivity) {
				t.Errorf("passive actor state %v has Activity", st.Slaves[0].Actor.State)
			}
			var sb strings.Builder
			st.WriteProc(&sb)
			if !strings.Contains(sb.String(), "LACP active: off\n") {
				t.Errorf("status:\n%s", sb.String())
			}
		})
	}
}
