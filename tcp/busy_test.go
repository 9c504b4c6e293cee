package tcp

import (
	"context"
	"io"
	"net/netip"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// TestIdleConnectionGivesBackItsBusy: a connection with nothing in
// flight, queued or held gives its busy back (shedIdle), and reads its
// buffers and queues as empty meanwhile; the next segment takes a busy
// again, with the buffers' limits and lengths the connection had, and the
// exchange goes on. A busy that holds anything (here SACK blocks to keep)
// stays.
func TestIdleConnectionGivesBackItsBusy(t *testing.T) {
	if idleBusy == nil {
		t.Skip("no read-only page for idle connections: they keep their busy")
	}
	c := establishedCore(t)
	c.rcvLocked, c.rcv.max = true, 12345 // as SetReadBuffer
	now := t0.Add(20 * time.Millisecond)
	buf := make([]byte, 16)
	c.handleSegment(now, data(peerISS+1, testISS+1, "ping"))
	if n := c.read(now, buf); n != 4 {
		t.Fatalf("read %d bytes, want 4", n)
	}
	c.write(now, []byte("pong"))
	takeOut(c)
	c.handleSegment(now.Add(time.Millisecond), ack(peerISS+5, testISS+5))
	takeOut(c)
	sndMax, sndHint, rcvHint := c.snd.max, c.snd.hint, c.rcv.hint
	c.shedIdle()
	if c.busy != idleBusy {
		t.Fatal("an idle connection kept its busy")
	}
	if n := c.ctr.busyReleased.Load(); n != 1 {
		t.Fatalf("tcp.idle.busy_released %d, want 1", n)
	}
	if c.rcv.n != 0 || c.snd.n != 0 || len(c.out) != 0 || c.tlp.at != 0 {
		t.Fatal("an idle connection's buffers or queues do not read empty")
	}

	c.handleSegment(now.Add(2*time.Millisecond), data(peerISS+5, testISS+5, "again"))
	if c.busy == idleBusy {
		t.Fatal("a segment with data found the idle busy")
	}
	if c.rcv.max != 12345 || c.snd.max != sndMax || c.snd.hint != sndHint || c.rcv.hint != rcvHint {
		t.Fatalf("buffers after idle: rcv max %d hint %d, snd max %d hint %d; want %d %d, %d %d",
			c.rcv.max, c.rcv.hint, c.snd.max, c.snd.hint, 12345, rcvHint, sndMax, sndHint)
	}
	if n := c.read(now, buf); string(buf[:n]) != "again" {
		t.Fatalf("read %q after idle, want %q", buf[:n], "again")
	}
	out := takeOut(c)
	if len(out) != 1 || out[0].ack != peerISS+10 {
		t.Fatalf("after idle sent %+v, want the ACK of the data", out)
	}

	// Data beyond a hole: the connection keeps what it must report.
	c.handleSegment(now, data(peerISS+20, testISS+5, "later"))
	takeOut(c)
	c.shedIdle()
	if c.busy == idleBusy {
		t.Fatal("a connection holding out-of-order data gave its busy back")
	}
}

// TestIdleBusyIsReadOnly: a write into the idle connections' busy (a way
// into the core without busyOn) faults instead of changing every idle
// connection's state.
func TestIdleBusyIsReadOnly(t *testing.T) {
	if idleBusy == nil {
		t.Skip("no read-only page for idle connections")
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() == nil {
			t.Fatal("a write into idleBusy did not fault")
		}
		if idleBusy.tlp.restart {
			t.Fatal("idleBusy changed")
		}
	}()
	idleBusy.tlp.restart = true
}

// TestClosedConnectionGivesBackItsBusy: a connection reset by its peer
// keeps its busy, and with it the error its Read returns, until the
// application closes it; then the busy goes back to the pool. So does
// the busy of a connection that the application closed first, once it
// leaves for TIME_WAIT's record.
func TestClosedConnectionGivesBackItsBusy(t *testing.T) {
	if idleBusy == nil {
		t.Skip("no read-only page for idle connections")
	}
	isIdle := func(c *Conn) bool {
		c.e.mu.Lock()
		defer c.e.mu.Unlock()
		return c.e.c.busy == idleBusy
	}

	_, c, _, _, _ := handConn(t, &payloadIP{}, Options{})
	c.e.mu.Lock()
	rst := segment{seq: c.e.c.rcvNxt, flags: FlagRST}
	c.e.mu.Unlock()
	c.e.deliver(&rst, nil)
	if isIdle(c) {
		t.Fatal("a connection reset by its peer gave its busy back before the application saw the error")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("Read after RST: %v, want the reset", err)
	}
	c.Close()
	if !isIdle(c) {
		t.Fatal("a reset connection closed by its application kept its busy")
	}

	_, c, _, _, _ = handConn(t, &payloadIP{}, Options{})
	c.Close() // our FIN
	c.e.mu.Lock()
	fin := segment{seq: c.e.c.rcvNxt, ack: c.e.c.sndNxt, flags: FlagFIN | FlagACK, wnd: 65535}
	c.e.mu.Unlock()
	c.e.deliver(&fin, nil) // TIME_WAIT, kept as the protocol's record
	if !isIdle(c) {
		t.Fatal("a connection gone to TIME_WAIT's record kept its busy")
	}
}

// TestBusyUnderTrafficAndInspection: connections that go idle and busy
// again at every request (a keep-alive exchange) while another goroutine
// lists them and reads their details (which see idle ones through the
// read-only idleBusy) and sets socket options on them; every answer
// arrives whole. Run with -race (make test) it also checks that the busy
// part changes hands only under the connection's lock.
func TestBusyUnderTrafficAndInspection(t *testing.T) {
	tn, ln, _ := heapBenchNet(t)
	defer tn.close()
	defer ln.Close()
	const conns, rounds = 8, 50
	serveEach(ln, func(c *Conn) {
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
	cs := make([]*Conn, conns)
	for i := range cs {
		c, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("10.0.0.2:80"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	stop := make(chan struct{})
	inspected := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				inspected <- n
				return
			default:
			}
			for _, p := range []*Protocol{cs[0].e.p, ln.p} {
				p.Connections()
				p.ConnDetails(nil)
			}
			for _, c := range cs {
				c.SetNoDelay(true)
				c.SetReadBuffer(64 << 10)
			}
			n++
		}
	}()
	msg := []byte("request and answer")
	buf := make([]byte, len(msg))
	for r := range rounds {
		for i, c := range cs {
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != string(msg) {
				t.Fatalf("round %d, connection %d: read %q, %v", r, i, buf, err)
			}
		}
	}
	close(stop)
	if n := <-inspected; n == 0 {
		t.Fatal("the inspecting goroutine never ran")
	}
	// The server's connections went idle between requests and gave their
	// busy back: what the exchanges above took again.
	if n := tn.b.Counters().Value("tcp.idle.busy_released"); n == 0 {
		t.Fatal("no server connection gave its busy back between requests (tcp.idle.busy_released 0)")
	}
}

// TestBusyCarriesCubicAndRackRecords: CUBIC's state and RACK's records
// live in the busy part, so c.ca and c.rack's records must follow the busy
// an idle connection gives back and takes again; a connection whose CUBIC
// has state (after a loss) keeps its busy.
func TestBusyCarriesCubicAndRackRecords(t *testing.T) {
	if idleBusy == nil {
		t.Skip("no read-only page for idle connections")
	}
	cfg := Options{TimeWait: 60 * time.Second}.config() // CUBIC, RACK
	var cs stack.Counters
	c := new(core)
	c.init(&cfg, newCounters(&cs), testISS, testMSS, 0)
	c.connect(t0)
	takeOut(c)
	c.handleSegment(t0.Add(10*time.Millisecond), &segment{seq: peerISS, ack: testISS + 1, flags: FlagSYN | FlagACK, wnd: 65535,
		opts: SegmentOptions{HasMSS: true, MSS: testMSS, SACKPermitted: true}})
	takeOut(c)
	pointed := func(when string) {
		t.Helper()
		if p, ok := c.ca.(*cubic); !ok || p != &c.busy.cubic {
			t.Fatalf("%s: c.ca is %T %p, want the busy's CUBIC %p", when, c.ca, c.ca, &c.busy.cubic)
		}
		if c.rack.rackRecs != &c.busy.rackRecs {
			t.Fatalf("%s: RACK's records are not the busy's", when)
		}
	}
	pointed("after the handshake")
	now := t0.Add(20 * time.Millisecond)
	c.write(now, []byte("abc"))
	takeOut(c)
	c.handleSegment(now.Add(time.Millisecond), ack(peerISS+1, testISS+4))
	takeOut(c)
	c.shedIdle()
	if c.busy != idleBusy {
		t.Fatal("an idle connection in slow start kept its busy")
	}
	pointed("idle")
	c.write(now, []byte("def"))
	if c.busy == idleBusy {
		t.Fatal("a Write found the idle busy")
	}
	pointed("after a Write")
	takeOut(c)

	// A loss response gives CUBIC state (its window before the loss).
	c.ca.onLoss(&c.ccWindow, now, 3)
	c.handleSegment(now.Add(2*time.Millisecond), ack(peerISS+1, testISS+7))
	takeOut(c)
	c.shedIdle()
	if c.busy == idleBusy {
		t.Fatal("a connection with CUBIC state gave its busy back")
	}
	pointed("with CUBIC state")
}
