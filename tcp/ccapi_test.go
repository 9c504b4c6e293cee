package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// ccRuns makes the names the tests register unique across -count runs.
var ccRuns atomic.Int32

// fixedCC holds the window at a fixed number of segments and halves
// ssthresh on loss, recording the calls.
type fixedCC struct {
	segs                   int
	acks, losses, timeouts int
	lastAck                AckSample
	lossFlight, rtoFlight  int
}

func (f *fixedCC) OnAck(w *CongestionWindow, a AckSample) {
	f.acks++
	f.lastAck = a
	w.Cwnd = f.segs * w.MSS
}

func (f *fixedCC) OnCongestion(w *CongestionWindow, _ time.Time, inFlight int) {
	f.losses++
	f.lossFlight = inFlight
	w.Ssthresh = inFlight / 2
}

func (f *fixedCC) OnTimeout(w *CongestionWindow, _ time.Time, inFlight int) {
	f.timeouts++
	f.rtoFlight = inFlight
	w.Ssthresh = 0 // clamped to two segments
}

// TestRegisterCongestionControl checks the registry's rules (Linux's
// tcp_register_congestion_control refuses a name taken): a name and a
// constructor are needed, built-in and registered names are refused, and
// the list of available algorithms shows a new one.
func TestRegisterCongestionControl(t *testing.T) {
	mk := func() CongestionControl { return &fixedCC{segs: 4} }
	rules := fmt.Sprintf("test-rules-%d", ccRuns.Add(1))
	for _, tt := range []struct {
		name  string
		newCC func() CongestionControl
		ok    bool
	}{
		{"", mk, false},
		{rules, nil, false},
		{"cubic", mk, false},
		{"reno", mk, false},
		{rules, mk, true},
		{rules, mk, false},
	} {
		if err := RegisterCongestionControl(tt.name, tt.newCC); (err == nil) != tt.ok {
			t.Errorf("RegisterCongestionControl(%q, nil=%v) = %v, want ok %v", tt.name, tt.newCC == nil, err, tt.ok)
		}
	}
	if got := CongestionControls(); !slices.Contains(got, rules) || !slices.Contains(got, "cubic") || !slices.IsSorted(got) {
		t.Errorf("CongestionControls() = %v", got)
	}
}

// TestPluggedCongestionControl: a registered algorithm owns the window
// outside recovery (OnAck with what the ACK told: bytes, RTT sample,
// flight), sets ssthresh on a fast retransmit (OnCongestion) and on a
// timeout (OnTimeout), and what it sets is clamped (a zero ssthresh is
// two segments).
func TestPluggedCongestionControl(t *testing.T) {
	var f *fixedCC
	name := fmt.Sprintf("test-fixed4-%d", ccRuns.Add(1)) // -count=N runs again
	if err := RegisterCongestionControl(name, func() CongestionControl { f = &fixedCC{segs: 4}; return f }); err != nil {
		t.Fatal(err)
	}
	c := tsCore(t)
	if !c.setCongestionControl(name) || c.ca.name() != name || f == nil {
		t.Fatal("not switched to the registered algorithm")
	}
	c.cwnd = 10 * c.mss
	p := newSegPeer(c, 20)
	c.write(t0, make([]byte, 10*c.mss))
	takeOut(c)
	t1 := t0.Add(30 * time.Millisecond)
	c.handleSegment(t1, p.take(0))
	if f.acks != 1 || f.lastAck.Acked != c.mss || f.lastAck.RTT != 30*time.Millisecond || f.lastAck.InFlight != 9*c.mss || !f.lastAck.Now.Equal(t1) {
		t.Fatalf("OnAck calls %d, sample %+v", f.acks, f.lastAck)
	}
	if c.cwnd != 4*c.mss {
		t.Fatalf("cwnd %d, want the algorithm's 4 segments", c.cwnd)
	}
	// Segments 2 to 4 SACKed: RACK finds 1 lost.
	for i := 2; i <= 4; i++ {
		c.handleSegment(t1.Add(30*time.Millisecond), p.take(i))
	}
	if !c.inRecovery || f.losses != 1 || c.ssthresh != f.lossFlight/2 {
		t.Fatalf("recovery %v, OnCongestion calls %d (flight %d), ssthresh %d", c.inRecovery, f.losses, f.lossFlight, c.ssthresh)
	}
	if c.tlp.at == 0 {
		t.Fatal("no probe armed in recovery")
	}
	c.handleTimer(c.due(c.tlp.at)) // the probe goes first, then the RTO
	c.handleTimer(c.due(c.rtxAt))
	if f.timeouts != 1 || c.ssthresh != 2*c.mss || c.cwnd != c.mss {
		t.Errorf("after the timeout: OnTimeout calls %d, ssthresh %d, cwnd %d (mss %d)", f.timeouts, c.ssthresh, c.cwnd, c.mss)
	}
}

// TestPluggedCongestionControlOption moves data over a connection whose
// Options name a registered algorithm.
func TestPluggedCongestionControlOption(t *testing.T) {
	name := fmt.Sprintf("test-fixed8-%d", ccRuns.Add(1))
	if err := RegisterCongestionControl(name, func() CongestionControl { return &fixedCC{segs: 8} }); err != nil {
		t.Fatal(err)
	}
	r := runBulk(t, Options{CongestionControl: name}, 256<<10, linkFaults{}, linkFaults{})
	if r.cc != name || r.cwnd != 8*r.mss {
		t.Errorf("connection ran %q with cwnd %d, want %s with %d", r.cc, r.cwnd, name, 8*r.mss)
	}
	if _, err := Register(stack.New(stack.Options{}), Options{CongestionControl: "test-missing"}); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("an unknown algorithm: %v, want an error listing the available ones", err)
	}
}

func ExampleRegisterCongestionControl() {
	// An algorithm of a fixed window of 16 segments (a test harness's
	// shaper, say); BBR or a delay-based one fits the same interface.
	err := RegisterCongestionControl("fixed16", func() CongestionControl { return &fixedCC{segs: 16} })
	if err != nil && !errors.Is(err, ErrCongestionControlExists) {
		panic(err)
	}
	tn := newTestNet(&testing.T{}, Options{CongestionControl: "fixed16"}, linkFaults{}, linkFaults{})
	defer tn.close()
	ln, _ := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:7"))
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("10.0.0.2:7"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write(make([]byte, 64<<10))
	fmt.Println(c.CongestionControl())
	// Output: fixed16
}
