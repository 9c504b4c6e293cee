package tcp

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

var t0 = time.Unix(1_000_000, 0)

const (
	testISS = seqnum.Value(1000)
	peerISS = seqnum.Value(5000)
	testMSS = 1000
)

// testConfig is the default configuration with NewReno, whose loss
// response (ssthresh = FlightSize/2) the recovery tests spell out.
func testConfig() *config {
	c := Options{TimeWait: 60 * time.Second, CongestionControl: "reno"}.config()
	return &c
}

func newTestCore(t testing.TB) *core {
	t.Helper()
	var cs stack.Counters
	c := new(core)
	c.init(testConfig(), newCounters(&cs), testISS, testMSS, 0)
	return c
}

// takeOut returns and clears the queued segments.
func takeOut(c *core) []outSeg {
	o := append([]outSeg(nil), c.out...)
	if c.out != nil { // an idle connection's busy is read-only (busy.go)
		c.out = c.out[:0]
	}
	return o
}

// establishedCore returns a core after an active open with a peer whose ISS
// is peerISS, a 64 KiB window, MSS testMSS and no window scaling.
func establishedCore(t *testing.T) *core {
	t.Helper()
	c := newTestCore(t)
	c.connect(t0)
	takeOut(c)
	c.handleSegment(t0.Add(10*time.Millisecond), &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 65535,
		opts: SegmentOptions{HasMSS: true, MSS: testMSS}})
	if c.state != StateEstablished {
		t.Fatalf("state %v after SYN-ACK", c.state)
	}
	takeOut(c)
	return c
}

func ack(seq, a seqnum.Value) *segment {
	return &segment{seq: seq, ack: a, flags: FlagACK, wnd: 65535}
}

func data(seq, a seqnum.Value, p string) *segment {
	return &segment{seq: seq, ack: a, flags: FlagACK | FlagPSH, wnd: 65535, payload: []byte(p)}
}

func wantSeg(t *testing.T, got []outSeg, i int, seq, a seqnum.Value, flags uint8, n int) {
	t.Helper()
	if i >= len(got) {
		t.Fatalf("want segment %d, have %d: %+v", i, len(got), got)
	}
	g := got[i]
	if g.seq != seq || g.flags != flags || g.dataLen != n || (flags&FlagACK != 0 && g.ack != a) {
		t.Fatalf("segment %d = {seq %d ack %d flags %#x len %d}, want {seq %d ack %d flags %#x len %d}",
			i, g.seq, g.ack, g.flags, g.dataLen, seq, a, flags, n)
	}
}

func TestActiveOpen(t *testing.T) {
	c := newTestCore(t)
	c.connect(t0)
	out := takeOut(c)
	wantSeg(t, out, 0, testISS, 0, FlagSYN, 0)
	if !out[0].syn || c.state != StateSynSent || c.due(c.rtxAt) != t0.Add(time.Second) {
		t.Fatalf("SYN %+v state %v rtx %v", out[0], c.state, c.due(c.rtxAt))
	}
	c.handleSegment(t0.Add(30*time.Millisecond), &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 1000,
		opts: SegmentOptions{HasMSS: true, MSS: 500, HasWindowScale: true, WindowScale: 2}})
	out = takeOut(c)
	wantSeg(t, out, 0, testISS+1, peerISS+1, FlagACK, 0)
	if c.state != StateEstablished || c.mss != 500 || c.sndShift != 2 || c.sndWnd != 1000 || c.rtxAt != 0 {
		t.Errorf("state %v mss %d shift %d wnd %d rtx %v", c.state, c.mss, c.sndShift, c.sndWnd, c.due(c.rtxAt))
	}
	if !c.rtt.hasSample() || c.rtt.srtt != 30*time.Millisecond {
		t.Errorf("SYN RTT sample: %+v", c.rtt)
	}
}

func TestPassiveOpen(t *testing.T) {
	c := newTestCore(t)
	c.acceptSyn(t0, &segment{seq: peerISS, flags: FlagSYN, wnd: 29200, opts: SegmentOptions{HasMSS: true, MSS: 1460}})
	out := takeOut(c)
	wantSeg(t, out, 0, testISS, peerISS+1, FlagSYN|FlagACK, 0)
	if c.state != StateSynReceived || c.sendWS {
		t.Fatalf("state %v sendWS %v (peer did not offer window scaling)", c.state, c.sendWS)
	}
	// A retransmitted SYN gets the SYN-ACK again.
	c.handleSegment(t0, &segment{seq: peerISS, flags: FlagSYN, wnd: 29200})
	wantSeg(t, takeOut(c), 0, testISS, peerISS+1, FlagSYN|FlagACK, 0)
	// An ACK that does not acknowledge our SYN is answered with RST.
	c.handleSegment(t0, ack(peerISS+1, testISS+7))
	wantSeg(t, takeOut(c), 0, testISS+7, 0, FlagRST, 0)
	c.handleSegment(t0, ack(peerISS+1, testISS+1))
	if c.state != StateEstablished || len(c.out) != 0 {
		t.Fatalf("state %v out %+v", c.state, c.out)
	}
}

func TestSynSent(t *testing.T) {
	tests := []struct {
		name      string
		seg       segment
		wantState State
		wantErr   error
		wantOut   []outSeg
	}{
		{"bad ack gets RST", segment{seq: 1, ack: testISS + 5, flags: FlagSYN | FlagACK}, StateSynSent, nil,
			[]outSeg{{seq: testISS + 5, flags: FlagRST}}},
		{"ack of iss gets RST", segment{seq: 1, ack: testISS, flags: FlagACK}, StateSynSent, nil,
			[]outSeg{{seq: testISS, flags: FlagRST}}},
		{"RST with good ack refuses", segment{ack: testISS + 1, flags: FlagRST | FlagACK}, StateClosed, stack.ErrConnectionRefused, nil},
		{"RST without ack ignored", segment{flags: FlagRST}, StateSynSent, nil, nil},
		{"bare ack-less segment ignored", segment{seq: 9, flags: FlagPSH, payload: []byte("x")}, StateSynSent, nil, nil},
		{"simultaneous open", segment{seq: peerISS, flags: FlagSYN, wnd: 100}, StateSynReceived, nil,
			[]outSeg{{seq: testISS, ack: peerISS + 1, flags: FlagSYN | FlagACK}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCore(t)
			c.connect(t0)
			takeOut(c)
			c.handleSegment(t0, &tt.seg)
			out := takeOut(c)
			if c.state != tt.wantState || c.err != tt.wantErr {
				t.Fatalf("state %v err %v", c.state, c.err)
			}
			if len(out) != len(tt.wantOut) {
				t.Fatalf("out %+v want %+v", out, tt.wantOut)
			}
			for i, w := range tt.wantOut {
				wantSeg(t, out, i, w.seq, w.ack, w.flags, 0)
			}
		})
	}
}

func TestSimultaneousOpen(t *testing.T) {
	c := newTestCore(t)
	c.connect(t0)
	takeOut(c)
	c.handleSegment(t0, &segment{seq: peerISS, flags: FlagSYN, wnd: 100})
	takeOut(c)
	// The peer's SYN-ACK (it saw our SYN) is outside the window: ACKed.
	c.handleSegment(t0, &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 100})
	wantSeg(t, takeOut(c), 0, testISS+1, peerISS+1, FlagACK, 0)
	// The peer's ACK of our SYN-ACK completes it.
	c.handleSegment(t0, ack(peerISS+1, testISS+1))
	if c.state != StateEstablished {
		t.Fatalf("state %v", c.state)
	}
}

func TestResetForClosedPort(t *testing.T) {
	tests := []struct {
		name  string
		seg   segment
		ok    bool
		seq   seqnum.Value
		ack   seqnum.Value
		flags uint8
	}{
		{"SYN", segment{seq: 100, flags: FlagSYN}, true, 0, 101, FlagRST | FlagACK},
		{"data no ACK", segment{seq: 100, flags: FlagPSH, payload: []byte("abc")}, true, 0, 103, FlagRST | FlagACK},
		{"SYN FIN", segment{seq: 100, flags: FlagSYN | FlagFIN}, true, 0, 102, FlagRST | FlagACK},
		{"ACK", segment{seq: 100, ack: 777, flags: FlagACK}, true, 777, 0, FlagRST},
		{"data with ACK", segment{seq: 100, ack: 777, flags: FlagACK, payload: []byte("abc")}, true, 777, 0, FlagRST},
		{"RST never answered", segment{seq: 100, flags: FlagRST}, false, 0, 0, 0},
		{"RST ACK never answered", segment{seq: 100, ack: 5, flags: FlagRST | FlagACK}, false, 0, 0, 0},
	}
	for _, tt := range tests {
		seq, a, f, ok := resetFor(&tt.seg)
		if ok != tt.ok || seq != tt.seq || a != tt.ack || f != tt.flags {
			t.Errorf("%s: got seq %d ack %d flags %#x ok %v", tt.name, seq, a, f, ok)
		}
	}
}

func TestResetAcceptance(t *testing.T) {
	tests := []struct {
		name      string
		seq       seqnum.Value
		wantState State
		wantOut   int // a challenge ACK or nothing
	}{
		{"exact", peerISS + 1, StateClosed, 0},
		{"in window", peerISS + 100, StateEstablished, 1},
		{"before window", peerISS - 10, StateEstablished, 0},
		{"beyond window", peerISS + 1 + 300000, StateEstablished, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := establishedCore(t)
			c.handleSegment(t0, &segment{seq: tt.seq, flags: FlagRST})
			out := takeOut(c)
			if c.state != tt.wantState || len(out) != tt.wantOut {
				t.Fatalf("state %v out %+v", c.state, out)
			}
			if tt.wantState == StateClosed && !errors.Is(c.err, syscall.ECONNRESET) {
				t.Errorf("err %v", c.err)
			}
			if tt.wantOut == 1 {
				wantSeg(t, out, 0, testISS+1, peerISS+1, FlagACK, 0)
			}
		})
	}
}

func TestSynInEstablishedChallenge(t *testing.T) {
	c := establishedCore(t)
	c.handleSegment(t0, &segment{seq: peerISS + 10, flags: FlagSYN})
	wantSeg(t, takeOut(c), 0, testISS+1, peerISS+1, FlagACK, 0)
	if c.state != StateEstablished {
		t.Fatal(c.state)
	}
}

func TestDataAndAck(t *testing.T) {
	c := establishedCore(t)
	// Receive.
	c.handleSegment(t0, data(peerISS+1, testISS+1, "hello"))
	wantSeg(t, takeOut(c), 0, testISS+1, peerISS+6, FlagACK, 0)
	buf := make([]byte, 10)
	if n := c.read(t0, buf); string(buf[:n]) != "hello" {
		t.Fatalf("read %q", buf[:n])
	}
	// Duplicate of the same data: ACKed again, not delivered twice.
	c.handleSegment(t0, data(peerISS+1, testISS+1, "hello"))
	wantSeg(t, takeOut(c), 0, testISS+1, peerISS+6, FlagACK, 0)
	if c.rcv.n != 0 {
		t.Fatal("duplicate delivered")
	}
	// Send: 2500 bytes become MSS-sized segments.
	if n := c.write(t0, make([]byte, 2500)); n != 2500 {
		t.Fatal(n)
	}
	out := takeOut(c)
	wantSeg(t, out, 0, testISS+1, peerISS+6, FlagACK, 1000)
	wantSeg(t, out, 1, testISS+1001, peerISS+6, FlagACK, 1000)
	wantSeg(t, out, 2, testISS+2001, peerISS+6, FlagACK|FlagPSH, 500)
	c.handleSegment(t0.Add(50*time.Millisecond), ack(peerISS+6, testISS+2501))
	if c.snd.n != 0 || c.sndUna != testISS+2501 || c.rtxAt != 0 {
		t.Fatalf("after full ACK: queued %d una %d rtx %v", c.snd.n, c.sndUna, c.due(c.rtxAt))
	}
	// An ACK for data never sent is answered with an ACK and ignored.
	c.handleSegment(t0, ack(peerISS+6, testISS+9999))
	wantSeg(t, takeOut(c), 0, testISS+2501, peerISS+6, FlagACK, 0)
}

func TestSendWindowLimits(t *testing.T) {
	c := establishedCore(t)
	c.handleSegment(t0, &segment{seq: peerISS + 1, ack: testISS + 1, flags: FlagACK, wnd: 1500})
	c.write(t0, make([]byte, 4000))
	out := takeOut(c)
	// 1000 fits; the 500 left of the window would be a silly small segment.
	if len(out) != 1 || out[0].dataLen != 1000 {
		t.Fatalf("window 1500: %+v", out)
	}
	// Zero window: nothing sent, persist timer armed, probe on expiry.
	c.handleSegment(t0, &segment{seq: peerISS + 1, ack: testISS + 1001, flags: FlagACK, wnd: 0})
	if len(takeOut(c)) != 0 || c.rtxAt == 0 {
		t.Fatalf("zero window: rtx %v", c.due(c.rtxAt))
	}
	c.handleTimer(c.due(c.rtxAt))
	out = takeOut(c)
	wantSeg(t, out, 0, testISS+1001, peerISS+1, FlagACK, 1)
	// The window opens: the rest flows.
	c.handleSegment(t0, &segment{seq: peerISS + 1, ack: testISS + 1002, flags: FlagACK, wnd: 60000})
	out = takeOut(c)
	total := 0
	for _, o := range out {
		total += o.dataLen
	}
	if total != 4000-1001 {
		t.Fatalf("after window opened sent %d: %+v", total, out)
	}
}

func TestOutOfOrderReassembly(t *testing.T) {
	c := establishedCore(t)
	base := peerISS + 1
	c.handleSegment(t0, data(base+6, testISS+1, "world"))
	c.handleSegment(t0, data(base+11, testISS+1, "!"))
	out := takeOut(c)
	wantSeg(t, out, 0, testISS+1, base, FlagACK, 0) // duplicate ACKs
	wantSeg(t, out, 1, testISS+1, base, FlagACK, 0)
	if c.rcv.n != 0 || c.ctr.outOfOrder.Load() != 2 || len(c.ooo) != 1 {
		t.Fatalf("readable %d ooo %+v", c.rcv.n, c.ooo)
	}
	c.handleSegment(t0, &segment{seq: base + 12, ack: testISS + 1, flags: FlagACK | FlagFIN, wnd: 65535})
	takeOut(c)
	c.handleSegment(t0, data(base, testISS+1, "hello "))
	wantSeg(t, takeOut(c), 0, testISS+1, base+13, FlagACK, 0)
	buf := make([]byte, 64)
	if n := c.read(t0, buf); string(buf[:n]) != "hello world!" {
		t.Fatalf("reassembled %q", buf[:n])
	}
	if !c.finRcvd || c.state != StateCloseWait {
		t.Errorf("out-of-order FIN: finRcvd %v state %v", c.finRcvd, c.state)
	}
}

func TestOverlappingSegments(t *testing.T) {
	c := establishedCore(t)
	base := peerISS + 1
	c.handleSegment(t0, data(base+2, testISS+1, "cdef"))
	c.handleSegment(t0, data(base+4, testISS+1, "efgh"))
	c.handleSegment(t0, data(base, testISS+1, "abcd"))
	buf := make([]byte, 64)
	if n := c.read(t0, buf); string(buf[:n]) != "abcdefgh" {
		t.Fatalf("got %q", buf[:n])
	}
}

func TestActiveClose(t *testing.T) {
	c := establishedCore(t)
	c.close(t0)
	wantSeg(t, takeOut(c), 0, testISS+1, peerISS+1, FlagACK|FlagFIN, 0)
	if c.state != StateFinWait1 {
		t.Fatal(c.state)
	}
	c.handleSegment(t0, ack(peerISS+1, testISS+2))
	if c.state != StateFinWait2 || c.due(c.twAt) != t0.Add(60*time.Second) {
		t.Fatalf("state %v twAt %v", c.state, c.due(c.twAt))
	}
	c.handleSegment(t0, &segment{seq: peerISS + 1, ack: testISS + 2, flags: FlagACK | FlagFIN, wnd: 100})
	wantSeg(t, takeOut(c), 0, testISS+2, peerISS+2, FlagACK, 0)
	if c.state != StateTimeWait {
		t.Fatal(c.state)
	}
	// A retransmitted FIN is ACKed again and restarts the timer.
	later := t0.Add(30 * time.Second)
	c.handleSegment(later, &segment{seq: peerISS + 1, ack: testISS + 2, flags: FlagACK | FlagFIN, wnd: 100})
	wantSeg(t, takeOut(c), 0, testISS+2, peerISS+2, FlagACK, 0)
	if c.due(c.twAt) != later.Add(60*time.Second) {
		t.Errorf("TIME_WAIT not restarted: %v", c.due(c.twAt))
	}
	c.handleTimer(c.due(c.twAt).Add(-time.Nanosecond))
	if c.state != StateTimeWait {
		t.Fatal("TIME_WAIT ended early")
	}
	c.handleTimer(c.due(c.twAt))
	if c.state != StateClosed || c.err != nil {
		t.Fatalf("after TIME_WAIT: %v %v", c.state, c.err)
	}
}

func TestFinAndAckTogether(t *testing.T) {
	c := establishedCore(t)
	c.close(t0)
	takeOut(c)
	c.handleSegment(t0, &segment{seq: peerISS + 1, ack: testISS + 2, flags: FlagACK | FlagFIN, wnd: 100})
	if c.state != StateTimeWait {
		t.Fatal(c.state)
	}
}

func TestPassiveClose(t *testing.T) {
	c := establishedCore(t)
	c.handleSegment(t0, &segment{seq: peerISS + 1, ack: testISS + 1, flags: FlagACK | FlagFIN, wnd: 100})
	if out := takeOut(c); len(out) != 0 { // delayed (finack_test.go); what we send carries it
		t.Fatalf("sent %+v", out)
	}
	if c.state != StateCloseWait || !c.finRcvd {
		t.Fatal(c.state)
	}
	// Still allowed to send in CLOSE_WAIT.
	c.write(t0, []byte("bye"))
	wantSeg(t, takeOut(c), 0, testISS+1, peerISS+2, FlagACK|FlagPSH, 3)
	c.close(t0)
	wantSeg(t, takeOut(c), 0, testISS+4, peerISS+2, FlagACK|FlagFIN, 0)
	if c.state != StateLastAck {
		t.Fatal(c.state)
	}
	c.handleSegment(t0, ack(peerISS+2, testISS+5))
	if c.state != StateClosed || c.err != nil {
		t.Fatalf("%v %v", c.state, c.err)
	}
}

func TestSimultaneousClose(t *testing.T) {
	c := establishedCore(t)
	c.close(t0)
	takeOut(c)
	// The peer's FIN crosses ours: it does not ACK our FIN.
	c.handleSegment(t0, &segment{seq: peerISS + 1, ack: testISS + 1, flags: FlagACK | FlagFIN, wnd: 100})
	wantSeg(t, takeOut(c), 0, testISS+2, peerISS+2, FlagACK, 0)
	if c.state != StateClosing {
		t.Fatal(c.state)
	}
	c.handleSegment(t0, ack(peerISS+2, testISS+2))
	if c.state != StateTimeWait {
		t.Fatal(c.state)
	}
}

func TestDataAfterCloseResets(t *testing.T) {
	c := establishedCore(t)
	c.close(t0)
	takeOut(c)
	c.handleSegment(t0, data(peerISS+1, testISS+2, "late"))
	out := takeOut(c)
	wantSeg(t, out, 0, testISS+2, peerISS+1, FlagRST|FlagACK, 0)
	if c.state != StateClosed {
		t.Fatal(c.state)
	}
}

// smallBufferCore is an established connection with a 4000-byte receive
// buffer and no window scaling.
func smallBufferCore() *core {
	cfg := testConfig()
	cfg.rcvBuf = 4000
	cfg.windowScale = false
	var cs stack.Counters
	c := new(core)
	c.init(cfg, newCounters(&cs), testISS, testMSS, 0)
	c.connect(t0)
	takeOut(c)
	c.handleSegment(t0, &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 65535})
	takeOut(c)
	return c
}

func TestReceiveWindowFlow(t *testing.T) {
	c := smallBufferCore()
	c.handleSegment(t0, data(peerISS+1, testISS+1, string(bytes.Repeat([]byte("x"), 4000))))
	out := takeOut(c)
	if out[0].wnd != 0 {
		t.Fatalf("window after filling the buffer: %d", out[0].wnd)
	}
	// Beyond the window: dropped and ACKed.
	c.handleSegment(t0, data(peerISS+4001, testISS+1, "y"))
	out = takeOut(c)
	wantSeg(t, out, 0, testISS+1, peerISS+4001, FlagACK, 0)
	if c.rcv.n != 4000 {
		t.Fatal(c.rcv.n)
	}
	// Reading half opens the window and tells the peer.
	c.read(t0, make([]byte, 2000))
	out = takeOut(c)
	if len(out) != 1 || out[0].wnd != 2000 {
		t.Fatalf("window update %+v", out)
	}
}

// TestWindowUpdateAfterRead: a Read sends a window update only when the
// window the peer knows is down to half the buffer or less and at least
// doubles (Linux), and grows by min(buffer/2, MSS) (RFC 1122 SWS).
func TestWindowUpdateAfterRead(t *testing.T) {
	tests := []struct {
		name       string
		fill, read int
		update     bool
	}{
		{"closed window, half read", 4000, 2000, true},
		{"closed window, less than an MSS read", 4000, 999, false},
		{"closed window, one MSS read", 4000, 1000, true},
		{"half known, grows by an MSS only", 2000, 1000, false},
		{"half known, all read", 2000, 2000, true},
		{"more than half known, all read", 1000, 1000, false},
		{"a quarter known, less than doubles", 3000, 500, false},
		{"a quarter known, window doubles", 3000, 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := smallBufferCore()
			c.handleSegment(t0, data(peerISS+1, testISS+1, strings.Repeat("x", tt.fill)))
			takeOut(c)
			c.read(t0, make([]byte, tt.read))
			out := takeOut(c)
			if got := len(out) == 1; got != tt.update {
				t.Fatalf("update sent %v, want %v (%+v)", got, tt.update, out)
			}
			if tt.update && int(out[0].wnd) != 4000-tt.fill+tt.read {
				t.Fatalf("window %d, want %d", out[0].wnd, 4000-tt.fill+tt.read)
			}
		})
	}
}

func TestHandleErrorFailsConnect(t *testing.T) {
	tests := []struct {
		kind stack.ErrorKind
		want syscall.Errno
	}{
		{stack.ErrorHostUnreachable, syscall.EHOSTUNREACH},
		{stack.ErrorNetUnreachable, syscall.ENETUNREACH},
		{stack.ErrorPortUnreachable, syscall.ECONNREFUSED},
	}
	for _, tt := range tests {
		c := newTestCore(t)
		c.connect(t0)
		c.handleError(t0, tt.kind, testISS+50, 0) // not our SYN: ignored
		if c.state != StateSynSent {
			t.Fatal("error for a foreign sequence number accepted")
		}
		c.handleError(t0, tt.kind, testISS, 0)
		if c.state != StateClosed || !errors.Is(c.err, tt.want) {
			t.Errorf("%v: %v %v", tt.kind, c.state, c.err)
		}
	}
}
