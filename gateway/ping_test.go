package gateway

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/vclock"
	"github.com/tapstack/tapstack/stack"
)

// The echo hook cannot wait (it runs on the packet path): the first echo
// to a destination starts a probe and goes unanswered; once the probe
// succeeded, echoes are answered until TTL, a failed probe is not; and a
// full table refuses new destinations (counted).
func TestPingerAnswersFromProbes(t *testing.T) {
	clk := vclock.New(time.Unix(1000, 0))
	up := netip.MustParseAddr("192.0.2.1")
	down := netip.MustParseAddr("192.0.2.2")
	probed := make(chan netip.Addr, 8)
	p := &Pinger{TTL: 10 * time.Second, MaxEntries: 2, Probe: func(_ context.Context, dst netip.Addr) error {
		defer func() { probed <- dst }()
		if dst == up {
			return nil
		}
		return errors.New("no reply")
	}}
	cs := &stack.Counters{}
	p.start(clk, cs)
	defer p.stop()
	if p.answer(up) || p.answer(down) {
		t.Fatal("answered before any probe")
	}
	<-probed
	<-probed
	p.wg.Wait()
	if !p.answer(up) {
		t.Error("an echo to a destination that answered the probe is not answered")
	}
	if p.answer(down) {
		t.Error("an echo to a destination that did not answer is answered")
	}
	if p.answer(netip.MustParseAddr("192.0.2.3")) || cs.Value("gateway.ping.table_full") != 1 {
		t.Errorf("a third destination over MaxEntries 2: table_full %d, want 1", cs.Value("gateway.ping.table_full"))
	}
	clk.Advance(11 * time.Second) // past TTL: a stale success is answered while it re-probes
	if !p.answer(up) {
		t.Error("a stale success is not answered during the re-probe")
	}
	<-probed
	p.wg.Wait()
	if n := cs.Value("gateway.ping.probes"); n != 3 {
		t.Errorf("probes %d, want 3", n)
	}
}
