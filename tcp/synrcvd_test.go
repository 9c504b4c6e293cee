package tcp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// smallBufCore is a passive core in SYN_RECEIVED with a 4 KiB receive
// buffer (the simulation seeds 1677 and 8826), window scaling offered
// for a 6 MiB maximum (shift 7) and a peer offering window scale 7 and
// timestamps, as tapstack and Linux do.
func smallBufCore(t *testing.T) *core {
	t.Helper()
	cfg := Options{ReceiveBufferSize: 4 << 10, CongestionControl: "reno"}.config()
	var cs stack.Counters
	c := new(core)
	c.init(&cfg, newCounters(&cs), testISS, testMSS, 0)
	c.acceptSyn(t0, &segment{seq: peerISS, flags: FlagSYN, wnd: 65535, opts: SegmentOptions{
		HasMSS: true, MSS: testMSS, HasWindowScale: true, WindowScale: 7, HasTimestamps: true, TSVal: 100,
	}})
	out := takeOut(c)
	wantSeg(t, out, 0, testISS, peerISS+1, FlagSYN|FlagACK, 0)
	// The SYN-ACK's window is never scaled (RFC 7323 2.2): the whole
	// 4 KiB, not 4096>>7.
	if out[0].wnd != 4096 || c.rcvShift != 7 || c.rcvWnd() != 4096 {
		t.Fatalf("SYN-ACK window %d, shift %d, RCV.WND %d; want 4096, 7, 4096", out[0].wnd, c.rcvShift, c.rcvWnd())
	}
	return c
}

func tsSeg(s *segment, tsval uint32) *segment {
	s.opts.HasTimestamps, s.opts.TSVal, s.opts.TSEcr = true, tsval, 1
	return s
}

// TestSynReceivedSmallBuffer is the regression table for "passive
// connection stuck in SYN_RECEIVED" (sim seeds 1677, 8826, rcvbuf 4 KiB):
// every segment a dialer that already is ESTABLISHED may send first must
// complete the handshake, whatever the tiny window. (The seeds' cause was
// below TCP, see TestSynReceivedBlackHole; these rules were the suspects
// and all hold.)
func TestSynReceivedSmallBuffer(t *testing.T) {
	big := strings.Repeat("x", 6000)
	tests := []struct {
		name     string
		seg      *segment
		wantRcv  int // bytes in the receive buffer
		wantOOO  int // out-of-order ranges
		wantNext seqnum.Value
	}{
		{"bare ACK", ack(peerISS+1, testISS+1), 0, 0, peerISS + 1},
		{"ACK with a full window of data", data(peerISS+1, testISS+1, big[:4096]), 4096, 0, peerISS + 4097},
		{"ACK with data beyond the window (trimmed)", data(peerISS+1, testISS+1, big), 4096, 0, peerISS + 4097},
		{"handshake ACK lost, second data segment first", data(peerISS+1+1000, testISS+1, big[:1000]), 0, 1, peerISS + 1},
		{"handshake ACK lost, data with FIN", func() *segment {
			s := data(peerISS+1, testISS+1, "hello")
			s.flags |= FlagFIN
			return s
		}(), 5, 0, peerISS + 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := smallBufCore(t)
			c.handleSegment(t0.Add(10*time.Millisecond), tsSeg(tt.seg, 101))
			if c.state != StateEstablished && c.state != StateCloseWait {
				t.Fatalf("state %v (out-of-window %d), want ESTABLISHED", c.state, c.ctr.outOfWindow.Load())
			}
			if c.ctr.outOfWindow.Load() != 0 {
				t.Errorf("out-of-window counted %d", c.ctr.outOfWindow.Load())
			}
			if c.rcv.n != tt.wantRcv || len(c.ooo) != tt.wantOOO || c.rcvNxt != tt.wantNext {
				t.Errorf("rcv %d ooo %d rcvNxt %d, want %d %d %d", c.rcv.n, len(c.ooo), c.rcvNxt, tt.wantRcv, tt.wantOOO, tt.wantNext)
			}
			// Later segments are scaled by 7: a full buffer advertises 0,
			// an empty one 4096>>7 = 32.
			for _, o := range takeOut(c) {
				if want := uint16((4096 - c.rcv.n) >> 7); o.wnd != want {
					t.Errorf("window field %d, want %d", o.wnd, want)
				}
			}
		})
	}
}

// TestSynReceivedBlackHole reproduces what seeds 1677 and 8826 did
// before corruption was limited to IPv4 frames: a corrupted ARP frame
// poisoned the neighbour cache and black-holed one direction for about a
// minute. While the dialer's handshake ACK and data cannot reach us, the
// SYN-ACK is retransmitted with backoff (1, 2, 4, 8, 16 s) and the
// half-open connection is dropped silently after SynAckRetries (5) when
// the last timeout (32 s) expires, 63 s after the SYN, as Linux does. A
// segment of the dialer's that arrives later finds no connection and is
// reset by the protocol (ECONNRESET at the dialer): the correct outcome
// of a one-way outage longer than the SYN-ACK budget, not a state
// machine bug.
func TestSynReceivedBlackHole(t *testing.T) {
	c := smallBufCore(t)
	at := t0
	for i, d := range []int{1, 2, 4, 8, 16} {
		at = at.Add(time.Duration(d) * time.Second)
		if c.due(c.rtxAt) != at {
			t.Fatalf("retry %d due at %v, want %v", i+1, c.due(c.rtxAt).Sub(t0), at.Sub(t0))
		}
		c.handleTimer(at)
		wantSeg(t, takeOut(c), 0, testISS, peerISS+1, FlagSYN|FlagACK, 0)
		// The dialer's retransmitted SYN gets the SYN-ACK at once too.
		c.handleSegment(at, &segment{seq: peerISS, flags: FlagSYN, wnd: 65535})
		wantSeg(t, takeOut(c), 0, testISS, peerISS+1, FlagSYN|FlagACK, 0)
	}
	at = at.Add(32 * time.Second)
	if c.due(c.rtxAt) != at {
		t.Fatalf("last timeout at %v, want 63s", c.due(c.rtxAt).Sub(t0))
	}
	c.handleTimer(at)
	if c.state != StateClosed || !errors.Is(c.err, stack.ErrTimedOut) || len(c.out) != 0 {
		t.Fatalf("after the SYN-ACK budget: state %v err %v out %+v; want CLOSED, ETIMEDOUT, nothing sent", c.state, c.err, c.out)
	}
	// Before the budget runs out, the first segment that gets through
	// still completes the handshake.
	c = smallBufCore(t)
	for _, d := range []time.Duration{1, 3, 7, 15, 31} {
		c.handleTimer(t0.Add(d * time.Second))
	}
	takeOut(c)
	c.handleSegment(t0.Add(40*time.Second), tsSeg(data(peerISS+1, testISS+1, "late"), 40_000))
	if c.state != StateEstablished || c.rcv.n != 4 {
		t.Fatalf("state %v rcv %d after a late handshake ACK with data", c.state, c.rcv.n)
	}
}
