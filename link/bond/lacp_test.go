package bond

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/lacp"
	"github.com/tapstack/tapstack/stack"
)

// TestLACPBondsAggregate (802.1AX-2014 6.4.15): two bonds back to back
// over two wires reach COLLECTING_DISTRIBUTING on both, send on both
// and deliver what arrives on both.
func TestLACPBondsAggregate(t *testing.T) {
	p := newLACPPair(t, Layer34)
	took, ok := until(p.clk, 10*time.Second, func() bool { return len(txSlaves(p.a)) == 2 && len(txSlaves(p.b)) == 2 })
	if !ok {
		var sb strings.Builder
		p.a.Status().WriteProc(&sb)
		t.Fatalf("not aggregated:\n%s", sb.String())
	}
	t.Logf("aggregated after %v of virtual time", took)
	st := p.a.Status()
	if st.ActiveAggregator == 0 || st.Slaves[0].Aggregator != st.ActiveAggregator || st.Slaves[1].Aggregator != st.ActiveAggregator {
		t.Fatalf("aggregators: %+v", st)
	}
	if st.Slaves[0].Partner.System != p.b.MAC() || st.Slaves[0].MuxState != lacp.MuxCollectingDistributing {
		t.Fatalf("slave 0: %+v", st.Slaves[0])
	}
	// Eight flows spread over both wires, each on one.
	a, b := netip.MustParseAddr("10.0.7.1"), netip.MustParseAddr("10.0.7.2")
	for port := uint16(40000); port < 40008; port++ {
		for range 3 {
			if err := p.a.WriteFrame(tcpFrame(p.a.MAC(), p.b.MAC(), a, b, port, 5001)); err != nil {
				t.Fatal(err)
			}
		}
	}
	n0, n1 := p.wa[0].count(stack.EtherTypeIPv4), p.wa[1].count(stack.EtherTypeIPv4)
	if n0 == 0 || n1 == 0 || n0%3 != 0 || n1%3 != 0 {
		t.Fatalf("flows per wire: %d and %d frames (want both used, whole flows of 3)", n0, n1)
	}
	if got := p.ub.n.Load(); got != 24 {
		t.Fatalf("peer delivered %d of 24 frames", got)
	}
}

// TestLACPLinkLossAndReturn (802.1AX-2014 6.4.12 current_while): a wire
// that silently stops is out of the aggregation within three fast
// periods, every flow moves to the other; when it returns it rejoins.
func TestLACPLinkLossAndReturn(t *testing.T) {
	p := newLACPPair(t, Layer34)
	if _, ok := until(p.clk, 10*time.Second, func() bool { return len(txSlaves(p.a)) == 2 && len(txSlaves(p.b)) == 2 }); !ok {
		t.Fatal("not aggregated")
	}
	p.wa[0].up.Store(false)
	took, ok := until(p.clk, 10*time.Second, func() bool {
		return slices.Equal(txSlaves(p.a), []string{"ta1"}) && slices.Equal(txSlaves(p.b), []string{"tb1"})
	})
	if !ok || took > lacp.ShortTimeoutTime+200*time.Millisecond {
		t.Fatalf("after the loss: a sends on %v, b on %v after %v", txSlaves(p.a), txSlaves(p.b), took)
	}
	t.Logf("wire 0 out after %v", took)
	p.wa[0].up.Store(true)
	if _, ok := until(p.clk, 10*time.Second, func() bool { return len(txSlaves(p.a)) == 2 && len(txSlaves(p.b)) == 2 }); !ok {
		t.Fatalf("not re-aggregated: %v %v", txSlaves(p.a), txSlaves(p.b))
	}
}

// TestLACPCarrierLoss (802.1AX-2014 6.4.7 port_enabled): a slave whose
// carrier goes down stops carrying at the next poll and counts a link
// failure.
func TestLACPCarrierLoss(t *testing.T) {
	p := newLACPPair(t, Layer2)
	if _, ok := until(p.clk, 10*time.Second, func() bool { return len(txSlaves(p.a)) == 2 }); !ok {
		t.Fatal("not aggregated")
	}
	down := false
	p.a.slaves[1].carrier = func() bool { return !down }
	down = true
	p.clk.Advance(200 * time.Millisecond)
	if got := txSlaves(p.a); !slices.Equal(got, []string{"ta0"}) {
		t.Fatalf("sends on %v", got)
	}
	if st := p.a.Status(); st.Slaves[1].MIIUp || st.Slaves[1].LinkFailures != 1 {
		t.Fatalf("slave 1: %+v", st.Slaves[1])
	}
}

// TestMalformedSlowFrames: malformed LACPDUs and unknown subtypes are
// counted and dropped; a flapping partner never crashes the bond, and
// the bond re-aggregates with its true partner afterwards.
func TestMalformedSlowFrames(t *testing.T) {
	live := stack.LivePackets()
	defer func() {
		if n := stack.LivePackets() - live; n != 0 {
			t.Errorf("%d packets leaked", n)
		}
	}()
	p := newLACPPair(t, Layer2)
	s := p.a.slaves[0]
	bad := [][]byte{{}, {1}, {1, 1, 1, 20}, {9, 1}, make([]byte, lacp.PDULen)}
	for _, pdu := range bad {
		f := append(append([]byte{1, 0x80, 0xc2, 0, 0, 2, 2, 0, 0, 0, 0, 0xb}, 0x88, 0x09), pdu...)
		s.DeliverFrame(stack.NewPacketFrom(f))
	}
	if got := s.Counters.RxMalformed.Load(); got != uint64(len(bad)) {
		t.Fatalf("malformed %d, want %d", got, len(bad))
	}
	for i := range 100 {
		f := make([]byte, 14+lacp.PDULen)
		copy(f, lacp.SlowProtocolsMAC[:])
		f[12], f[13] = 0x88, 0x09
		lacp.LACPDUFields{Actor: lacp.Info{System: stack.MAC{2, 1, 2, 3, 4, byte(i)}, Key: uint16(i), Port: 1, State: lacp.StateSync | lacp.StateAggregation}}.Encode(f[14:])
		s.DeliverFrame(stack.NewPacketFrom(f))
		p.clk.Advance(10 * time.Millisecond)
	}
	// Once the flapping stops, the true partner wins again.
	if _, ok := until(p.clk, 10*time.Second, func() bool {
		st := p.a.Status()
		return len(txSlaves(p.a)) == 2 && st.Slaves[0].Partner.System == p.b.MAC()
	}); !ok {
		t.Fatalf("not re-aggregated with the true partner after the flapping: %v", txSlaves(p.a))
	}
}

// TestMarkerResponder (802.1AX-2014 6.5.4.2): a Marker PDU is answered
// on the same slave with a Marker Response echoing its fields.
func TestMarkerResponder(t *testing.T) {
	p := newLACPPair(t, Layer2)
	before := p.wa[1].count(lacp.EtherType)
	m := lacp.MarkerFields{Type: lacp.MarkerInfo, Port: 2, System: p.b.MAC(), TransactionID: 77}
	f := make([]byte, 14+lacp.PDULen)
	copy(f, lacp.SlowProtocolsMAC[:])
	f[12], f[13] = 0x88, 0x09
	m.Encode(f[14:])
	p.a.slaves[1].DeliverFrame(stack.NewPacketFrom(f))
	if p.wa[1].count(lacp.EtherType) != before+1 {
		t.Fatal("no response sent")
	}
	var resp lacp.MarkerFields
	for _, f := range p.wa[1].last() {
		if f[14] == lacp.SubtypeMarker {
			resp = lacp.MarkerPDU(f[14:]).Fields()
		}
	}
	if resp != m.Response() {
		t.Fatalf("response %+v, want %+v", resp, m.Response())
	}
}

// TestMarkerFloodLimited: a flood of Marker PDUs is answered at most
// markerBurst times a second per slave; the rest are counted.
func TestMarkerFloodLimited(t *testing.T) {
	p := newLACPPair(t, Layer2)
	f := make([]byte, 14+lacp.PDULen)
	copy(f, lacp.SlowProtocolsMAC[:])
	f[12], f[13] = 0x88, 0x09
	lacp.MarkerFields{Type: lacp.MarkerInfo, Port: 1, TransactionID: 1}.Encode(f[14:])
	s := p.a.slaves[0]
	for range 100 {
		s.DeliverFrame(stack.NewPacketFrom(f))
	}
	if got := s.Counters.TxMarkers.Load(); got != markerBurst {
		t.Fatalf("%d responses to 100 markers in one instant, want %d", got, markerBurst)
	}
	if got := s.Counters.RxMarkersLimited.Load(); got != 100-markerBurst {
		t.Fatalf("limited %d", got)
	}
	p.clk.Advance(time.Second)
	s.DeliverFrame(stack.NewPacketFrom(f))
	if got := s.Counters.TxMarkers.Load(); got != markerBurst+1 {
		t.Fatalf("no response a second later (%d)", got)
	}
}
