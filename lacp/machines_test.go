package lacp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pair is two systems wired port to port over a fake wire, ticked every
// 100 ms of virtual time.
type pair struct {
	clk  *vclock.Clock
	a, b *System
	up   []bool // per link
	out  []Transmission
	sent [2]int // LACPDUs sent by a and b
}

func newPair(n int, fast bool) *pair {
	return newPairWith(n, Config{Fast: fast}, Config{Fast: fast})
}

// newPairWith is newPair with the systems' configurations (their System
// MACs are filled in).
func newPairWith(n int, ca, cb Config) *pair {
	w := &pair{clk: vclock.New(t0)}
	ca.System, cb.System = stack.MAC{2, 0, 0, 0, 0, 0xa}, stack.MAC{2, 0, 0, 0, 0, 0xb}
	w.a = NewSystem(ca)
	w.b = NewSystem(cb)
	for i := range n {
		w.a.AddPort(uint16(i + 1))
		w.b.AddPort(uint16(i + 1))
		w.up = append(w.up, true)
		w.a.SetEnabled(w.clk.Now(), w.a.ports[i], true)
		w.b.SetEnabled(w.clk.Now(), w.b.ports[i], true)
	}
	return w
}

func (w *pair) step() {
	w.clk.Advance(100 * time.Millisecond)
	now := w.clk.Now()
	for side, s := range []*System{w.a, w.b} {
		peer := w.b
		if side == 1 {
			peer = w.a
		}
		w.out = s.Tick(now, w.out[:0])
		for _, tx := range w.out {
			w.sent[side]++
			i := int(tx.Port.Number()) - 1
			if w.up[i] {
				peer.Receive(now, peer.ports[i], tx.PDU)
			}
		}
	}
}

// run steps until cond holds or d of virtual time passed; it returns the
// virtual time taken.
func (w *pair) run(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := w.clk.Now()
	for w.clk.Now().Sub(start) < d {
		if cond() {
			return w.clk.Now().Sub(start), true
		}
		w.step()
	}
	return w.clk.Now().Sub(start), cond()
}

func distributing(s *System, ports ...int) bool {
	for _, i := range ports {
		if !s.ports[i].Distributing() {
			return false
		}
	}
	return true
}

// TestTwoSystemsAggregate: two actors on two fake links reach
// COLLECTING_DISTRIBUTING on both links in one aggregator, within the
// aggregate wait time plus a few fast periods.
func TestTwoSystemsAggregate(t *testing.T) {
	w := newPair(2, true)
	took, ok := w.run(10*time.Second, func() bool { return distributing(w.a, 0, 1) && distributing(w.b, 0, 1) })
	if !ok {
		t.Fatalf("not aggregated: a %v/%v b %v/%v", w.a.ports[0].MuxState(), w.a.ports[1].MuxState(), w.b.ports[0].MuxState(), w.b.ports[1].MuxState())
	}
	t.Logf("aggregated after %v of virtual time", took)
	for _, s := range []*System{w.a, w.b} {
		if agg := s.ActiveAggregator(); agg == 0 || s.ports[0].Aggregator() != agg || s.ports[1].Aggregator() != agg {
			t.Errorf("aggregators: active %d, ports on %d and %d; want both on the active one", agg, s.ports[0].Aggregator(), s.ports[1].Aggregator())
		}
		want := StateActivity | StateTimeout | StateAggregation | StateSync | StateCollecting | StateDistributing
		if got := s.ports[0].Actor().State; got != want {
			t.Errorf("actor state %#x, want %#x", got, want)
		}
	}
	if p := w.a.ports[0].Partner(); p.System != w.b.cfg.System || p.Port != 1 || p.Key != 1 {
		t.Errorf("partner info %+v", p)
	}
}

// TestPartnerTimeoutShort (802.1AX-2014 6.4.12, current_while =
// Short_Timeout_Time): when a link silently stops carrying LACPDUs, its
// port stops distributing within three fast periods while the other
// link keeps distributing; when the link comes back the port rejoins the
// aggregator.
func TestPartnerTimeoutShort(t *testing.T) {
	w := newPair(2, true)
	if _, ok := w.run(10*time.Second, func() bool { return distributing(w.a, 0, 1) && distributing(w.b, 0, 1) }); !ok {
		t.Fatal("not aggregated")
	}
	w.up[0] = false // a silent loss: the ports stay enabled
	took, ok := w.run(10*time.Second, func() bool { return !w.a.ports[0].Distributing() && !w.b.ports[0].Distributing() })
	if !ok || took > ShortTimeoutTime+200*time.Millisecond {
		t.Fatalf("port 1 still distributing %v after the link died (ok %v)", took, ok)
	}
	if !distributing(w.a, 1) || !distributing(w.b, 1) {
		t.Fatal("port 2 stopped distributing")
	}
	if w.a.ports[0].RxState() != RxExpired {
		t.Errorf("rx state %v, want EXPIRED", w.a.ports[0].RxState())
	}
	w.run(5*time.Second, func() bool { return false })
	if w.a.ports[0].RxState() != RxDefaulted || w.a.ports[0].Actor().State&StateDefaulted == 0 {
		t.Errorf("rx state %v after 2 × short timeout, want DEFAULTED", w.a.ports[0].RxState())
	}
	if w.a.ActiveAggregator() != w.a.ports[1].Aggregator() || !distributing(w.a, 1) {
		t.Errorf("active aggregator %d (port 2 on %d)", w.a.ActiveAggregator(), w.a.ports[1].Aggregator())
	}
	w.up[0] = true
	if _, ok := w.run(10*time.Second, func() bool { return distributing(w.a, 0, 1) && distributing(w.b, 0, 1) }); !ok {
		t.Fatalf("not re-aggregated: a port 1 %v %v", w.a.ports[0].RxState(), w.a.ports[0].MuxState())
	}
}

// TestPortDisabled (802.1AX-2014 6.4.12 PORT_DISABLED, 6.4.14): a port
// whose link goes down is UNSELECTED and detaches at once; enabled
// again it passes EXPIRED and rejoins.
func TestPortDisabled(t *testing.T) {
	w := newPair(2, true)
	if _, ok := w.run(10*time.Second, func() bool { return distributing(w.a, 0, 1) && distributing(w.b, 0, 1) }); !ok {
		t.Fatal("not aggregated")
	}
	w.up[1] = false
	w.a.SetEnabled(w.clk.Now(), w.a.ports[1], false)
	if w.a.ports[1].Distributing() || w.a.ports[1].MuxState() != MuxDetached || w.a.ports[1].RxState() != RxPortDisabled {
		t.Fatalf("disabled port: mux %v rx %v", w.a.ports[1].MuxState(), w.a.ports[1].RxState())
	}
	if !distributing(w.a, 0) {
		t.Fatal("port 1 stopped distributing")
	}
	w.up[1] = true
	w.a.SetEnabled(w.clk.Now(), w.a.ports[1], true)
	if w.a.ports[1].RxState() != RxExpired {
		t.Fatalf("re-enabled port in %v, want EXPIRED", w.a.ports[1].RxState())
	}
	if _, ok := w.run(10*time.Second, func() bool { return distributing(w.a, 0, 1) && distributing(w.b, 0, 1) }); !ok {
		t.Fatal("not re-aggregated")
	}
}

// TestPeriodicRate (802.1AX-2014 6.4.13): a fast partner gets an LACPDU
// every second, a slow one every 30 s, once aggregated.
func TestPeriodicRate(t *testing.T) {
	for _, c := range []struct {
		fast bool
		want int // per port in 60 s
	}{{true, 60}, {false, 2}} {
		w := newPair(1, c.fast)
		w.run(20*time.Second, func() bool { return distributing(w.a, 0) && distributing(w.b, 0) })
		w.run(40*time.Second, func() bool { return false }) // settle
		before := w.sent[0]
		w.run(60*time.Second, func() bool { return false })
		if got := w.sent[0] - before; got < c.want-1 || got > c.want+1 {
			t.Errorf("fast=%v: %d LACPDUs in 60 s, want %d", c.fast, got, c.want)
		}
	}
}

// TestTxRateLimit (802.1AX-2014 6.4.16): at most three LACPDUs per
// Fast_Periodic_Time however often NTT is set.
func TestTxRateLimit(t *testing.T) {
	s := NewSystem(Config{System: stack.MAC{2, 0, 0, 0, 0, 1}, Fast: true})
	p := s.AddPort(1)
	now := t0
	s.SetEnabled(now, p, true)
	n := 0
	for i := range 10 {
		p.ntt = true
		n += len(s.Tick(now.Add(time.Duration(i)*time.Millisecond), nil))
	}
	if n != txLimit {
		t.Fatalf("%d LACPDUs in 10 ms, want %d", n, txLimit)
	}
}

// TestUpdateSelected (802.1AX-2014 6.4.9 update_Selected): an LACPDU
// from a different partner system unselects the port, which detaches
// and re-selects; a flapping partner never leaves the port distributing
// with stale information.
func TestUpdateSelected(t *testing.T) {
	w := newPair(1, true)
	if _, ok := w.run(10*time.Second, func() bool { return distributing(w.a, 0) }); !ok {
		t.Fatal("not aggregated")
	}
	p := w.a.ports[0]
	for i := range 50 {
		pdu := LACPDUFields{Actor: Info{System: stack.MAC{2, 9, 9, 9, 9, byte(i)}, Key: uint16(i), Port: 1, State: StateActivity | StateAggregation | StateSync}}
		w.a.Receive(w.clk.Now(), p, pdu)
		if p.Distributing() {
			t.Fatalf("flap %d: still distributing to a new partner", i)
		}
		w.clk.Advance(10 * time.Millisecond)
	}
	if p.Partner().System != (stack.MAC{2, 9, 9, 9, 9, 49}) {
		t.Fatalf("partner %v", p.Partner().System)
	}
}

// TestIndividualPartner (802.1AX-2014 6.4.14, 6.3.6): partners that
// are not aggregatable get an aggregator each; the bond distributes on
// one only.
func TestIndividualPartner(t *testing.T) {
	s := NewSystem(Config{System: stack.MAC{2, 0, 0, 0, 0, 1}, Fast: true})
	p1, p2 := s.AddPort(1), s.AddPort(2)
	now := t0
	s.SetEnabled(now, p1, true)
	s.SetEnabled(now, p2, true)
	for i, p := range []*Port{p1, p2} {
		pdu := LACPDUFields{Actor: Info{System: stack.MAC{2, 0, 0, 0, 0, 2}, Key: 5, Port: uint16(i + 1), State: StateActivity | StateSync}}
		pdu.Partner = p.Actor()
		s.Receive(now, p, pdu)
	}
	for range 40 {
		now = now.Add(100 * time.Millisecond)
		s.Tick(now, nil)
		for i, p := range []*Port{p1, p2} {
			pdu := LACPDUFields{Actor: Info{System: stack.MAC{2, 0, 0, 0, 0, 2}, Key: 5, Port: uint16(i + 1), State: StateActivity | StateSync}, Partner: p.Actor()}
			s.Receive(now, p, pdu)
		}
	}
	if p1.Aggregator() == p2.Aggregator() || p1.Aggregator() == 0 || p2.Aggregator() == 0 {
		t.Fatalf("aggregators %d, %d: want one each", p1.Aggregator(), p2.Aggregator())
	}
	if p1.Distributing() == p2.Distributing() {
		t.Fatalf("distributing %v/%v: want exactly one (%v/%v)", p1.Distributing(), p2.Distributing(), p1.Selected(), p2.Selected())
	}
}

// TestChurnDetection (802.1AX-2014 6.4.17): aggregated ports show no
// churn; a port whose partner never answers churns after
// Churn_Detection_Time (actor and partner), once, and recovers when
// the partner comes.
func TestChurnDetection(t *testing.T) {
	w := newPair(1, true)
	if _, ok := w.run(10*time.Second, func() bool { return distributing(w.a, 0) }); !ok {
		t.Fatal("not aggregated")
	}
	p := w.a.ports[0]
	if st, n := p.ActorChurn(); st != ChurnNone || n != 0 {
		t.Fatalf("aggregated port: actor churn %v %d", st, n)
	}
	if st, _ := p.PartnerChurn(); st != ChurnNone {
		t.Fatalf("aggregated port: partner churn %v", st)
	}
	w.up[0] = false
	w.run(ChurnDetectionTime-5*time.Second, func() bool { return false })
	if st, _ := p.PartnerChurn(); st != ChurnMonitor {
		t.Fatalf("partner churn %v before Churn_Detection_Time, want monitoring", st)
	}
	w.run(10*time.Second, func() bool { return false })
	if st, n := p.PartnerChurn(); st != Churned || n != 1 {
		t.Fatalf("partner churn %v %d after Churn_Detection_Time, want churned once", st, n)
	}
	w.run(60*time.Second, func() bool { return false })
	if _, n := p.PartnerChurn(); n != 1 {
		t.Fatalf("churned %d times, want once", n)
	}
	w.up[0] = true
	if _, ok := w.run(10*time.Second, func() bool { st, _ := p.PartnerChurn(); return st == ChurnNone && distributing(w.a, 0) }); !ok {
		st, _ := p.PartnerChurn()
		t.Fatalf("partner churn %v after the partner returned", st)
	}
}
