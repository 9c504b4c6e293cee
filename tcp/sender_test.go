package tcp

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tapstack/tapstack/internal/seqnum"
	"github.com/tapstack/tapstack/stack"
)

// writers records, for every segment a wire writes, which goroutine wrote
// it: the application (a *Conn method on the stack), the protocol's sender
// or the stack's own paths (delivery, timers).
type writers struct {
	mu                  sync.Mutex
	app, sender, others int
	appStack            string
}

func (w *writers) record() {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	var app, snd bool
	var trace strings.Builder
	for {
		f, more := frames.Next()
		trace.WriteString(f.Function + "\n")
		app = app || strings.Contains(f.Function, "tcp.(*Conn).") || strings.HasPrefix(f.Function, "github.com/tapstack/tapstack/tcp.Dial")
		snd = snd || strings.Contains(f.Function, "tcp.(*sender).run")
		if !more {
			break
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case app:
		w.app++
		w.appStack = trace.String()
	case snd:
		w.sender++
	default:
		w.others++
	}
}

// TestApplicationGoroutines checks who writes segments. With buffers
// under inlineIO no segment is written from an application's call (Dial,
// Write, Read, CloseWrite, Close, socket options): the protocol's senders
// write them (or an arriving segment's delivery does, if it comes first),
// so that the transmit path never grows an application goroutine's stack.
// With larger buffers, Read and Write send inline. (That queued segments
// wait for the sender is TestPendingSegmentsGoBeforeTheCore's to show:
// here which of the two sends them is a race.)
func TestApplicationGoroutines(t *testing.T) {
	for _, tc := range []struct {
		name   string
		buf    int
		inline bool // some segments are written from application calls
	}{
		{"small calls", 4 << 10, false},
		{"bulk calls", inlineIO, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, pk := runtime.NumGoroutine(), stack.LivePackets()
			tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
			var wa, wb writers
			tn.fipA.onWrite, tn.fipB.onWrite = wa.record, wb.record
			c, s, ln := pair(t, tn)
			done := make(chan error, 1)
			go func() {
				// The echo writes whole buffers (io.ReadFull): a Read
				// returns what has arrived, which on a loaded machine
				// can be a segment at a time, and writes of less than
				// inlineIO never send from the application's call.
				buf := make([]byte, tc.buf)
				var err error
				for err == nil {
					var n int
					n, err = io.ReadFull(s, buf)
					if n > 0 {
						if _, werr := s.Write(buf[:n]); werr != nil {
							err = werr
						}
					}
				}
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					err = s.CloseWrite()
				}
				done <- err
			}()
			if err := c.SetNoDelay(false); err != nil {
				t.Fatal(err)
			}
			msg := bytes.Repeat([]byte("tapstack "), 50000) // a few windows' worth
			werr := make(chan error, 1)
			go func() {
				var err error
				for b := msg; len(b) > 0 && err == nil; {
					k := min(len(b), tc.buf)
					_, err = c.Write(b[:k])
					b = b[k:]
				}
				if err == nil {
					err = c.CloseWrite()
				}
				werr <- err
			}()
			var got bytes.Buffer
			if _, err := io.CopyBuffer(struct{ io.Writer }{&got}, struct{ io.Reader }{c}, make([]byte, tc.buf)); err != nil || !bytes.Equal(got.Bytes(), msg) {
				t.Fatalf("echo: %d bytes of %d, %v", got.Len(), len(msg), err)
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			c.Close()
			s.Close()
			ln.Close()
			checkNoLeaks(t, tn, g, pk)
			for name, w := range map[string]*writers{"A": &wa, "B": &wb} {
				t.Logf("%s: %d segments written by a sender, %d by delivery and timers, %d by application calls", name, w.sender, w.others, w.app)
				if !tc.inline && w.app > 0 {
					t.Errorf("%s: %d segments were written from an application call, the last from:\n%s", name, w.app, w.appStack)
				}
				if tc.inline && w.app == 0 {
					t.Errorf("%s: no segment was written from an application call", name)
				}
			}
		})
	}
}

// payloadIP is a network protocol that records the payload of every
// segment written to it.
type payloadIP struct {
	mu   sync.Mutex
	sent []string
}

func (*payloadIP) EtherType() uint16            { return stack.EtherTypeIPv4 }
func (*payloadIP) HandlePacket(p *stack.Packet) { p.Release() }
func (n *payloadIP) WritePacket(_ *stack.Route, _ stack.NetworkParams, p *stack.Packet) error {
	h := Header(p.Bytes())
	if pl := p.Bytes()[h.DataOffset():]; len(pl) > 0 {
		n.mu.Lock()
		n.sent = append(n.sent, string(pl))
		n.mu.Unlock()
	}
	p.Release()
	return nil
}

// TestPendingSegmentsGoBeforeTheCore checks that segments an application
// call queued for the sender are sent before an arriving segment is
// processed, so a connection's segments leave in order. The sender is
// held busy, so what Write queues leaves only when the peer's next
// segment arrives.
func TestPendingSegmentsGoBeforeTheCore(t *testing.T) {
	ip := &payloadIP{}
	p, c, _, _, _ := handConn(t, ip, Options{})
	// Keep the sender busy: it waits for the lock of a queued endpoint
	// the test holds, and what is queued after it waits too.
	blocker := &endpoint{p: p, lport: c.e.lport, rport: c.e.rport} // the same sender as c
	blocker.c.busy = idleBusy                                      // as an idle connection's
	blocker.mu.Lock()
	if !p.senderOf(blocker).queue(blocker) {
		t.Fatal("the sender is closed")
	}
	defer blocker.mu.Unlock()

	e := c.e
	peer := func(ack seqnum.Value) {
		e.mu.Lock()
		seg := segment{seq: e.c.rcvNxt, ack: ack, flags: FlagACK, wnd: 65535}
		e.mu.Unlock()
		e.deliver(&seg, nil)
	}
	write := func(s string) {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.c.out) == 0 {
			t.Fatalf("Write(%q) was sent from the application's goroutine, not queued", s)
		}
	}
	e.mu.Lock()
	una := e.c.sndUna
	e.mu.Unlock()
	write("first")
	peer(una) // a duplicate ACK: "first" leaves before it is processed
	write("second")
	peer(una.Add(5)) // acknowledges "first": "second" must leave before
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if got := strings.Join(ip.sent, "|"); got != "first|second" {
		t.Errorf("payloads sent: %q, want %q", got, "first|second")
	}
}

// TestQueuedSegmentFindsItsDataBySequence: a segment queued for the
// sender whose data the peer acknowledges before it is built (an entry
// point that did not flush first) loses that data instead of sending
// other bytes of the buffer under its sequence number: built by sequence
// number, "first" is not sent at all, and "second" is sent whole
// (tcp.tx.stale_trimmed counts it).
func TestQueuedSegmentFindsItsDataBySequence(t *testing.T) {
	ip := &payloadIP{}
	p, c, _, _, _ := handConn(t, ip, Options{})
	blocker := &endpoint{p: p, lport: c.e.lport, rport: c.e.rport}
	blocker.c.busy = idleBusy // as an idle connection's
	blocker.mu.Lock()
	if !p.senderOf(blocker).queue(blocker) {
		t.Fatal("the sender is closed")
	}
	defer blocker.mu.Unlock()
	e := c.e
	if _, err := c.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	una := e.c.sndUna
	// Into the core without a flush: "first" is acknowledged (as if it
	// had been sent already) and "second" is queued behind it.
	now := e.p.clock.Now()
	e.c.handleSegment(now, &segment{seq: e.c.rcvNxt, ack: una.Add(5), flags: FlagACK, wnd: 65535})
	e.c.write(now, []byte("second"))
	e.flush()
	e.mu.Unlock()
	ip.mu.Lock()
	got := strings.Join(ip.sent, "|")
	ip.mu.Unlock()
	if got != "second" {
		t.Errorf("payloads sent: %q, want %q", got, "second")
	}
	if n := p.ctr.txStaleTrimmed.Load(); n != 1 {
		t.Errorf("tcp.tx.stale_trimmed = %d, want 1", n)
	}
}
