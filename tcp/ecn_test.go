package tcp

import (
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

func ecnCore(t *testing.T, opts Options) *core {
	t.Helper()
	opts.CongestionControl = "reno"
	cfg := opts.config()
	var cs stack.Counters
	c := new(core)
	c.init(&cfg, newCounters(&cs), testISS, testMSS, 0)
	return c
}

// TestECNNegotiation is RFC 3168 section 6.1.1: an ECN-setup SYN carries
// ECE and CWR, an ECN-setup SYN-ACK ECE alone; anything else leaves ECN
// off. Dial asks only with RequestECN; a listener accepts unless
// DisableECN (Linux tcp_ecn = 2 by default).
func TestECNNegotiation(t *testing.T) {
	t.Run("active", func(t *testing.T) {
		tests := []struct {
			name     string
			opts     Options
			synFlags uint8 // ECN flags of our SYN
			synAck   uint8 // ECN flags of the peer's SYN-ACK
			want     bool
		}{
			{"requested and answered", Options{RequestECN: true}, FlagECE | FlagCWR, FlagECE, true},
			{"answer with CWR too is not ECN-setup", Options{RequestECN: true}, FlagECE | FlagCWR, FlagECE | FlagCWR, false},
			{"peer without ECN", Options{RequestECN: true}, FlagECE | FlagCWR, 0, false},
			{"not requested (default)", Options{}, 0, FlagECE, false},
			{"disabled wins", Options{RequestECN: true, DisableECN: true}, 0, FlagECE, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := ecnCore(t, tt.opts)
				c.connect(t0)
				out := takeOut(c)
				if got := out[0].flags & (FlagECE | FlagCWR); got != tt.synFlags {
					t.Fatalf("SYN ECN flags %#x, want %#x", got, tt.synFlags)
				}
				c.handleSegment(t0, &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK | tt.synAck, wnd: 65535})
				if c.state != StateEstablished || c.ecnOn != tt.want {
					t.Fatalf("state %v ecn %v, want ESTABLISHED %v", c.state, c.ecnOn, tt.want)
				}
			})
		}
	})
	t.Run("passive", func(t *testing.T) {
		tests := []struct {
			name   string
			opts   Options
			syn    uint8
			synAck uint8
		}{
			{"ECN-setup SYN accepted", Options{}, FlagECE | FlagCWR, FlagECE},
			{"ECE alone is not ECN-setup", Options{}, FlagECE, 0},
			{"plain SYN", Options{}, 0, 0},
			{"disabled", Options{DisableECN: true}, FlagECE | FlagCWR, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := ecnCore(t, tt.opts)
				c.acceptSyn(t0, &segment{seq: peerISS, flags: FlagSYN | tt.syn, wnd: 65535})
				out := takeOut(c)
				if got := out[0].flags & (FlagECE | FlagCWR); got != tt.synAck {
					t.Fatalf("SYN-ACK ECN flags %#x, want %#x", got, tt.synAck)
				}
				// A retransmitted SYN-ACK keeps them.
				c.handleTimer(c.due(c.rtxAt))
				if got := takeOut(c)[0].flags & (FlagECE | FlagCWR); got != tt.synAck {
					t.Fatalf("retransmitted SYN-ACK ECN flags %#x", got)
				}
				c.handleSegment(t0, ack(peerISS+1, testISS+1))
				if c.state != StateEstablished || c.ecnOn != (tt.synAck != 0) {
					t.Fatalf("state %v ecn %v", c.state, c.ecnOn)
				}
			})
		}
	})
	t.Run("retransmitted SYN drops the request", func(t *testing.T) {
		c := ecnCore(t, Options{RequestECN: true})
		c.connect(t0)
		takeOut(c)
		c.handleTimer(c.due(c.rtxAt))
		if f := takeOut(c)[0].flags; f&(FlagECE|FlagCWR) != 0 {
			t.Fatalf("retransmitted SYN flags %#x", f)
		}
		c.handleSegment(t0.Add(2*time.Second), &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK | FlagECE, wnd: 65535})
		if c.ecnOn {
			t.Fatal("ECN on after a SYN without the request")
		}
	})
}

// ecnEstablished is an established core with ECN negotiated.
func ecnEstablished(t *testing.T) *core {
	t.Helper()
	c := ecnCore(t, Options{RequestECN: true})
	c.connect(t0)
	takeOut(c)
	c.handleSegment(t0, &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK | FlagECE, wnd: 65535,
		opts: SegmentOptions{HasMSS: true, MSS: testMSS}})
	takeOut(c)
	if !c.ecnOn {
		t.Fatal("ECN not negotiated")
	}
	return c
}

// TestECNReceiver is RFC 3168 section 6.1.3: a CE mark is acknowledged at
// once with ECE, and every ACK carries ECE until a segment with CWR.
func TestECNReceiver(t *testing.T) {
	c := ecnEstablished(t)
	c.cfg.delAck = 40 * time.Millisecond
	c.quickAcks = 0
	seg := data(peerISS+1, testISS+1, "abc")
	seg.ce = true
	c.handleSegment(t0, seg)
	out := takeOut(c)
	if len(out) != 1 || out[0].flags&FlagECE == 0 {
		t.Fatalf("CE-marked data: out %+v, want an immediate ACK with ECE", out)
	}
	c.handleSegment(t0, data(peerISS+4, testISS+1, "defg"))
	c.handleSegment(t0, data(peerISS+8, testISS+1, "hijk"))
	c.handleTimer(c.due(c.ackAt)) // the delayed ACK
	out = takeOut(c)
	if len(out) == 0 || out[0].flags&FlagECE == 0 {
		t.Fatalf("ACK after the mark without CWR: %+v, want ECE", out)
	}
	cwr := data(peerISS+12, testISS+1, "lmno")
	cwr.flags |= FlagCWR
	c.handleSegment(t0, cwr)
	c.handleTimer(t0.Add(time.Second))
	for _, o := range takeOut(c) {
		if o.flags&FlagECE != 0 {
			t.Fatalf("ECE after the peer's CWR: %+v", o)
		}
	}
	if c.ctr.ecnCE.Load() != 1 {
		t.Errorf("ce_received %d", c.ctr.ecnCE.Load())
	}
}

// TestECNSender is RFC 3168 sections 6.1.2 and 6.1.5: new data goes
// ECN-capable (retransmissions and pure ACKs not); ECE halves the window
// once per window of data, and the next new segment carries CWR.
func TestECNSender(t *testing.T) {
	c := ecnEstablished(t)
	c.write(t0, make([]byte, 20*testMSS))
	out := takeOut(c)
	if len(out) != 10 {
		t.Fatalf("initial window: %d segments", len(out))
	}
	for _, o := range out {
		if !o.ect || o.flags&FlagCWR != 0 {
			t.Fatalf("new data %+v: want ECT, no CWR", o)
		}
	}
	// The ACK of the first two segments echoes a mark.
	e := ack(peerISS+1, testISS+1+2*testMSS)
	e.flags |= FlagECE
	c.handleSegment(t0.Add(10*time.Millisecond), e)
	out = takeOut(c)
	if want := 10 * testMSS / 2; c.ssthresh != want || c.cwnd != want {
		t.Fatalf("after ECE: ssthresh %d cwnd %d, want %d (flight/2)", c.ssthresh, c.cwnd, want)
	}
	if c.ctr.retransmits.Load() != 0 {
		t.Fatal("ECE caused a retransmission")
	}
	// cwnd 5000 with 8000 in flight: nothing new yet. Once the window
	// allows, the first new segment carries CWR, the next does not.
	if len(out) != 0 {
		t.Fatalf("sent %+v with a full window", out)
	}
	// More ECE within the same window: no second reduction.
	e = ack(peerISS+1, testISS+1+6*testMSS)
	e.flags |= FlagECE
	c.handleSegment(t0.Add(20*time.Millisecond), e)
	out = takeOut(c)
	if c.ctr.ecnReductions.Load() != 1 {
		t.Fatalf("%d reductions for one window", c.ctr.ecnReductions.Load())
	}
	if len(out) == 0 || out[0].flags&FlagCWR == 0 || !out[0].ect {
		t.Fatalf("first new data after the reduction %+v: want CWR and ECT", out)
	}
	for _, o := range out[1:] {
		if o.flags&FlagCWR != 0 {
			t.Fatalf("CWR twice: %+v", o)
		}
	}
	// A pure ACK (we received data) is not ECN-capable.
	c.handleSegment(t0.Add(21*time.Millisecond), data(peerISS+1, testISS+1+6*testMSS, "x"))
	for _, o := range takeOut(c) {
		if o.dataLen == 0 && o.ect {
			t.Fatalf("pure ACK sent ECT: %+v", o)
		}
	}
	// An RTO retransmission is not ECN-capable.
	c.handleTimer(c.due(c.rtxAt))
	out = takeOut(c)
	if len(out) == 0 || out[0].ect {
		t.Fatalf("retransmission %+v: want not ECT", out)
	}
	// ECE beyond the reduced window reduces again.
	c2 := ecnEstablished(t)
	c2.write(t0, make([]byte, 40*testMSS))
	takeOut(c2)
	for i, a := range []int{2, 10, 16} {
		e := ack(peerISS+1, testISS.Add(seqnum.Size(1+a*testMSS)))
		e.flags |= FlagECE
		c2.handleSegment(t0.Add(time.Duration(i+1)*10*time.Millisecond), e)
		takeOut(c2)
	}
	if n := c2.ctr.ecnReductions.Load(); n != 2 {
		t.Errorf("%d reductions over two windows, want 2", n)
	}
}

// TestECNWire: over a wire that marks 3% of ECN-capable packets CE, a
// bulk transfer with ECN finishes byte-exact, the receiver counts marks
// and the sender reduces its window for them.
func TestECNWire(t *testing.T) {
	for _, off := range []int{0, 65535} {
		res := runBulk(t, Options{RequestECN: true}, 4<<20, linkFaults{seed: 9, ce: 0.03, offload: off}, linkFaults{seed: 10})
		t.Logf("offload %d: CE received %d, window reductions %d, retransmits %d", off, res.ceReceived, res.ecnReductions, res.retransmits)
		if res.ceReceived == 0 || res.ecnReductions == 0 {
			t.Errorf("offload %d: CE received %d, reductions %d", off, res.ceReceived, res.ecnReductions)
		}
		// A tail loss probe may retransmit when an ACK is late (a
		// delayed one); nothing else may.
		if res.retransmits > res.tlpProbes {
			t.Errorf("offload %d: %d retransmissions without loss, %d of them loss probes", off, res.retransmits, res.tlpProbes)
		}
		if res.wireA != nil {
			res.wireA.check(t)
		}
	}
}
