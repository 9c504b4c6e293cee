package tcp

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
)

// TestFinAck: the ACK of a FIN that takes an established connection to
// CLOSE_WAIT is delayed, so that the application's close sends one
// segment (FIN carrying the ACK) instead of two; in the other states, with
// delayed ACKs off, or when data needs an ACK at once, it goes at once.
func TestFinAck(t *testing.T) {
	const delAck = 40 * time.Millisecond
	tests := []struct {
		name       string
		noDelAck   bool
		closeFirst bool   // we close before the peer's FIN arrives
		finAcksUs  bool   // the peer's FIN acknowledges our FIN
		payload    string // data in the FIN segment
		then       string // "close": the application closes 1ms later; "timer": nothing but timers
		wantState  State
		wantNow    []uint8 // flags of the segments sent at once
		wantLater  []uint8 // flags of what "then" sends
		wantAck    int     // the ACK number of all of them, from peerISS
	}{
		{name: "established, application closes", then: "close", wantState: StateCloseWait,
			wantLater: []uint8{FlagACK | FlagFIN}, wantAck: 2},
		{name: "established, application does not close", then: "timer", wantState: StateCloseWait,
			wantLater: []uint8{FlagACK}, wantAck: 2},
		{name: "established, FIN with data (quick ACK)", payload: "hi", then: "close", wantState: StateCloseWait,
			wantNow: []uint8{FlagACK}, wantLater: []uint8{FlagACK | FlagFIN}, wantAck: 4},
		{name: "delayed ACKs off", noDelAck: true, then: "close", wantState: StateCloseWait,
			wantNow: []uint8{FlagACK}, wantLater: []uint8{FlagACK | FlagFIN}, wantAck: 2},
		{name: "FIN_WAIT_2 to TIME_WAIT", closeFirst: true, finAcksUs: true, then: "timer", wantState: StateTimeWait,
			wantNow: []uint8{FlagACK}, wantAck: 2},
		{name: "FIN_WAIT_1 to CLOSING", closeFirst: true, then: "timer", wantState: StateClosing,
			wantNow: []uint8{FlagACK}, wantAck: 2},
	}
	check := func(t *testing.T, what string, got []outSeg, flags []uint8, ack int) {
		t.Helper()
		if len(got) != len(flags) {
			t.Fatalf("%s: sent %+v, want %d segments", what, got, len(flags))
		}
		for i, f := range flags {
			if got[i].flags != f || got[i].ack != peerISS+seqnum.Value(ack) {
				t.Fatalf("%s: segment %d flags %#x ack %d, want flags %#x ack %d", what, i, got[i].flags, got[i].ack, f, peerISS+seqnum.Value(ack))
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := establishedCore(t)
			if tt.noDelAck {
				c.cfg.delAck = 0
			} else if c.cfg.delAck != delAck {
				t.Fatalf("delayed ACK timeout %v, want %v", c.cfg.delAck, delAck)
			}
			ours := testISS + 1
			if tt.closeFirst {
				c.close(t0)
				takeOut(c)
			}
			a := ours
			if tt.finAcksUs {
				c.handleSegment(t0, ack(peerISS+1, ours+1)) // FIN_WAIT_2
				a = ours + 1
			}
			c.handleSegment(t0, &segment{seq: peerISS + 1, ack: a, flags: FlagACK | FlagFIN, wnd: 65535, payload: []byte(tt.payload)})
			if c.state != tt.wantState {
				t.Fatalf("state %v, want %v", c.state, tt.wantState)
			}
			check(t, "at once", takeOut(c), tt.wantNow, tt.wantAck)
			if len(tt.wantNow) == 0 && c.due(c.ackAt) != t0.Add(delAck) {
				t.Fatalf("delayed ACK at %v, want %v", c.due(c.ackAt), t0.Add(delAck))
			}
			switch tt.then {
			case "close":
				c.close(t0.Add(time.Millisecond))
				check(t, "close", takeOut(c), tt.wantLater, tt.wantAck)
				if c.ackAt != 0 {
					t.Fatalf("the FIN carried the ACK, yet one is still due at %v", c.due(c.ackAt))
				}
				c.handleTimer(t0.Add(delAck))
				check(t, "after the delayed-ACK timeout", takeOut(c), nil, tt.wantAck)
			case "timer":
				c.handleTimer(t0.Add(delAck - time.Millisecond))
				check(t, "before the delayed-ACK timeout", takeOut(c), nil, tt.wantAck)
				c.handleTimer(t0.Add(delAck))
				check(t, "delayed-ACK timeout", takeOut(c), tt.wantLater, tt.wantAck)
			}
		})
	}
}

// TestPassiveCloseSegments: over the fake wire, in a synctest bubble (the
// server's Close runs at the virtual instant its Read saw EOF), a server
// whose clients close first sends one segment per close, the FIN that
// carries the ACK of the client's FIN, not an ACK and then a FIN: with
// 50,000 clients closing at once, 50,000 fewer writes into the TAP.
func TestPassiveCloseSegments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const conns = 10
		tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
		ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:80"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		closed := make(chan struct{})
		serveEach(ln, func(c *Conn) {
			var buf [16]byte
			c.Read(buf[:])
			c.Write(buf[:1])
			for {
				if _, err := c.Read(buf[:]); err != nil {
					break
				}
			}
			c.Close()
			closed <- struct{}{}
		})
		sent := tn.b.Counters().Get("tcp.tx.segments")
		var perClose []uint64
		for range conns {
			c, err := Dial(context.Background(), tn.a, netip.AddrPortFrom(tn.ipB, 80))
			if err != nil {
				t.Fatal(err)
			}
			var buf [1]byte
			c.Write([]byte("x"))
			if _, err := c.Read(buf[:]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second) // virtual: every delayed ACK of the exchange is out
			synctest.Wait()
			before := sent.Load()
			c.Close()
			<-closed
			time.Sleep(time.Second) // virtual: past the delayed-ACK timeout and any retransmission
			synctest.Wait()
			perClose = append(perClose, sent.Load()-before)
		}
		for i, n := range perClose {
			if n != 1 {
				t.Fatalf("close %d: the server sent %d segments, want 1 (FIN with the ACK); all: %v", i, n, perClose)
			}
		}
	})
}

// TestFinRidesOnUnsentData: as Linux's tcp_send_fin, a FIN queued while
// the segment of the last data written is still waiting to be built rides
// on it (data, PSH and FIN in one segment); a FIN after data already
// built, or after a TSO super-segment, or with SACK blocks, goes alone.
func TestFinRidesOnUnsentData(t *testing.T) {
	tests := []struct {
		name      string
		flushed   bool // the data's segment was built before the shutdown
		gso       bool // the data's segment is a TSO super-segment
		wantFlags []uint8
		wantLens  []int
	}{
		{name: "data not yet built", wantFlags: []uint8{FlagACK | FlagPSH | FlagFIN}, wantLens: []int{5}},
		{name: "data already built", flushed: true, wantFlags: []uint8{FlagACK | FlagFIN}, wantLens: []int{0}},
		{name: "data in a super-segment", gso: true, wantFlags: []uint8{FlagACK | FlagPSH, FlagACK | FlagFIN}, wantLens: []int{5, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := establishedCore(t)
			if c.write(t0, []byte("hello")) != 5 || len(c.out) != 1 {
				t.Fatalf("write: %+v", c.out)
			}
			if tt.flushed {
				c.out = c.out[:0]
			}
			if tt.gso {
				c.out[0].gso = testMSS
			}
			c.shutdown(t0.Add(time.Millisecond))
			got := takeOut(c)
			if len(got) != len(tt.wantFlags) {
				t.Fatalf("sent %+v, want %d segments", got, len(tt.wantFlags))
			}
			for i := range got {
				if got[i].flags != tt.wantFlags[i] || got[i].dataLen != tt.wantLens[i] {
					t.Errorf("segment %d: flags %#x, %d bytes; want %#x, %d", i, got[i].flags, got[i].dataLen, tt.wantFlags[i], tt.wantLens[i])
				}
			}
			last := got[len(got)-1]
			if end := last.seq.Add(seqnum.Size(last.dataLen)); end != testISS+6 {
				t.Errorf("FIN at %d, want at %d", end, testISS+6)
			}
		})
	}
	t.Run("FIN with SACK blocks", func(t *testing.T) {
		// Its blocks might not fit beside the data's payload.
		c := establishedCore(t)
		c.queue(outSeg{seq: testISS + 1, ack: peerISS + 1, flags: FlagACK | FlagPSH, dataLen: 5})
		c.queue(outSeg{seq: testISS + 6, ack: peerISS + 1, flags: FlagACK | FlagFIN, nsack: 1})
		if got := takeOut(c); len(got) != 2 || got[0].flags != FlagACK|FlagPSH || got[1].flags != FlagACK|FlagFIN {
			t.Fatalf("sent %+v, want the data and the FIN apart", got)
		}
	})
}
