package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// TestTLPTimeout is RFC 8985 section 7.2's TLP_calc_PTO.
func TestTLPTimeout(t *testing.T) {
	now := t0
	tests := []struct {
		name       string
		srtt       time.Duration
		hasSRTT    bool
		oneSegment bool
		rtoIn      time.Duration // the RTO fires this long from now (0: not armed)
		want       time.Duration
	}{
		{"PTO = 2*SRTT (plus Linux's 2ms) with several segments in flight", 50 * time.Millisecond, true, false, time.Second, 102 * time.Millisecond},
		{"one segment in flight: + WCDelAckT (200ms) for a delayed ACK", 50 * time.Millisecond, true, true, time.Second, 300 * time.Millisecond},
		{"no RTT sample: one second", 0, false, false, 3 * time.Second, time.Second},
		{"never later than the RTO", 300 * time.Millisecond, true, false, 400 * time.Millisecond, 400 * time.Millisecond},
		{"RTO not armed: no bound", 300 * time.Millisecond, true, false, 0, 602 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rto time.Time
			if tt.rtoIn > 0 {
				rto = now.Add(tt.rtoIn)
			}
			if got := tlpPTO(tt.srtt, tt.hasSRTT, tt.oneSegment, now, rto); got != tt.want {
				t.Errorf("PTO = %v, want %v", got, tt.want)
			}
		})
	}
}

// tlpCore is tsCore (SACK and timestamps) with a 20ms smoothed RTT and
// ten segments written at t0; more, when positive, is data queued behind
// them that the congestion window holds back.
func tlpCore(t *testing.T, more int) (c *core, una seqnum.Value) {
	t.Helper()
	c = tsCore(t)
	c.rtt.init(time.Second)
	c.rtt.sample(20*time.Millisecond, c.cfg.minRTO, c.cfg.maxRTO)
	c.cwnd = 10 * c.mss
	c.write(t0, make([]byte, 10*c.mss+more))
	if out := takeOut(c); len(out) != 10 {
		t.Fatalf("sent %d segments", len(out))
	}
	return c, c.sndUna
}

// TestTLPProbe is RFC 8985 sections 7.2 to 7.4 on a flight whose tail is
// lost: the probe goes at the PTO, long before the RTO, and its ACK says
// whether it repaired a loss.
func TestTLPProbe(t *testing.T) {
	const srtt = 20 * time.Millisecond
	tests := []struct {
		name      string
		sack      bool
		more      int  // new data waiting
		ackThe    int  // segments the peer acknowledged before the tail went quiet
		dsack     bool // the peer reports the probe a duplicate
		wantProbe bool
		wantLoss  bool // tcp.tlp.recoveries counts and the window is reduced
	}{
		{name: "last segment retransmitted; its ACK repairs a loss", sack: true, ackThe: 8, wantProbe: true, wantLoss: true},
		{name: "the last segment, also with new data waiting: a duplicate is ACKed at once (RFC 5681 4.2)", sack: true, more: 100000, ackThe: 8, wantProbe: true, wantLoss: true},
		{name: "a D-SACK of the probe: the original arrived, no loss", sack: true, ackThe: 8, dsack: true, wantProbe: true},
		{name: "no probe without SACK (RFC 8985 7.2)", ackThe: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, una := tlpCore(t, tt.more)
			if !tt.sack {
				c.sackOn = false
				c.setLossRecovery()
			}
			m := seqnum.Value(c.mss)
			at := t0.Add(srtt)
			c.handleSegment(at, peerAck(c, una+seqnum.Value(tt.ackThe)*m, c.tsNow(t0)))
			takeOut(c)
			rto := c.due(c.rtxAt)
			pto := c.due(c.tlp.at)
			if !tt.wantProbe {
				if !pto.IsZero() {
					t.Fatalf("probe armed at %v", pto.Sub(at))
				}
				return
			}
			// 2*SRTT (+2ms) after the ACK; the SRTT has moved to the
			// sample of the ACK (the same 20ms).
			if want := at.Add(2*c.rtt.srtt + tlpMin); !pto.Equal(want) || !pto.Before(rto) {
				t.Fatalf("PTO at %v, want %v, before the RTO at %v", pto.Sub(at), want.Sub(at), rto.Sub(at))
			}
			if c.deadline() != pto {
				t.Fatalf("deadline %v is not the PTO %v", c.deadline(), pto)
			}
			top := c.sndMax
			c.handleTimer(pto)
			out := takeOut(c)
			if len(out) != 1 || c.ctr.tlpProbes.Load() != 1 {
				t.Fatalf("at the PTO sent %+v", out)
			}
			p := out[0]
			if p.seq != top-m || p.dataLen != c.mss {
				t.Fatalf("probe {seq %d len %d} with %d sent, want the last segment", p.seq-una, p.dataLen, top-una)
			}
			if !c.due(c.rtxAt).After(pto) {
				t.Errorf("RTO at %v not rearmed after the probe", c.due(c.rtxAt).Sub(at))
			}
			cwnd, ssthresh := c.cwnd, c.ssthresh
			later := pto.Add(srtt)
			if tt.dsack {
				// The original tail arrived after all: everything is
				// acknowledged, and the probe is a duplicate.
				c.handleSegment(later, peerAck(c, c.sndMax, p.tsVal, blk(p.seq, p.seq+seqnum.Value(p.dataLen))))
			} else {
				c.handleSegment(later, peerAck(c, c.sndMax, p.tsVal))
			}
			takeOut(c)
			// One more round of data, acknowledged beyond the probe.
			c.write(later, make([]byte, c.mss))
			takeOut(c)
			c.handleSegment(later.Add(srtt), peerAck(c, c.sndMax, c.tsNow(later)))
			loss := c.ctr.tlpRecoveries.Load() == 1
			if loss != tt.wantLoss || (loss && (c.ssthresh >= ssthresh || c.cwnd >= cwnd+2*c.mss)) {
				t.Errorf("tcp.tlp.recoveries %d, cwnd %d -> %d, ssthresh %d -> %d; want a loss response %v",
					c.ctr.tlpRecoveries.Load(), cwnd, c.cwnd, ssthresh, c.ssthresh, tt.wantLoss)
			}
			if c.tlp.out {
				t.Error("probe still outstanding")
			}
		})
	}
}
