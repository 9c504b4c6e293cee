package tcp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pair dials from A to a listener on B and returns both ends.
func pair(t *testing.T, tn *testNet) (client, server *Conn, ln *Listener) {
	t.Helper()
	ln, err := Listen(tn.b, netip.AddrPortFrom(netip.IPv4Unspecified(), 8080))
	if err != nil {
		t.Fatal(err)
	}
	acc := make(chan *Conn, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	client, err = Dial(ctxT(t), tn.a, netip.AddrPortFrom(tn.ipB, 8080))
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	if server == nil {
		t.FailNow()
	}
	return client, server, ln
}

func TestDialAcceptEcho(t *testing.T) {
	g, pk := runtime.NumGoroutine(), stack.LivePackets()
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	c, s, ln := pair(t, tn)

	if la, ok := c.LocalAddr().(*net.TCPAddr); !ok || la.Port < ephemeralFirst || la.Port > ephemeralLast || !la.IP.Equal(net.IPv4(10, 0, 0, 1)) {
		t.Errorf("client LocalAddr %v", c.LocalAddr())
	}
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); !ok || ra.String() != "10.0.0.2:8080" {
		t.Errorf("client RemoteAddr %v", c.RemoteAddr())
	}
	if s.LocalAddr().String() != "10.0.0.2:8080" || s.RemoteAddr().String() != c.LocalAddr().String() {
		t.Errorf("server addrs %v %v", s.LocalAddr(), s.RemoteAddr())
	}
	if ln.Addr().String() != "0.0.0.0:8080" {
		t.Errorf("listener addr %v", ln.Addr())
	}
	go func() { io.Copy(s, s); s.CloseWrite() }()
	msg := []byte("hello over tapstack")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %q, %v", got, err)
	}
	var states []string
	for _, ci := range tn.pb.Connections() {
		states = append(states, ci.State)
	}
	if len(states) == 0 || states[0] != "LISTEN" {
		t.Errorf("Connections on B: %v", states)
	}
	c.Close()
	s.Close()
	ln.Close()
	checkNoLeaks(t, tn, g, pk)
}

func TestBulkBothWays(t *testing.T) {
	testBulk(t, 10<<20, linkFaults{}, linkFaults{})
}

func TestBulkWithLoss(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		testBulk(t, 1<<20, linkFaults{seed: seed, loss: 0.05, reorder: 0.02}, linkFaults{seed: seed + 100, loss: 0.05})
	}
}

// TestBulkBatched: both ways over wires that deliver in batches (one ACK
// per batch, batch.go), clean and with loss and reordering.
func TestBulkBatched(t *testing.T) {
	testBulk(t, 4<<20, linkFaults{batch: true}, linkFaults{batch: true})
	for _, seed := range []uint64{3, 4} {
		testBulk(t, 1<<20, linkFaults{seed: seed, loss: 0.05, reorder: 0.02, batch: true}, linkFaults{seed: seed + 100, loss: 0.05, batch: true})
	}
}

func testBulk(t *testing.T, size int, ab, ba linkFaults) {
	g, pk := runtime.NumGoroutine(), stack.LivePackets()
	tn := newTestNet(t, Options{}, ab, ba)
	c, s, ln := pair(t, tn)
	ln.Close()
	mk := func(seed uint64) []byte {
		b := make([]byte, size)
		r := rand.New(rand.NewPCG(seed, 1))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	dataA, dataB := mk(1), mk(2)
	send := func(c *Conn, b []byte, errc chan<- error) {
		// Uneven write sizes exercise buffer wrap-around.
		for len(b) > 0 {
			n := min(len(b), 1+rand.IntN(70000))
			if _, err := c.Write(b[:n]); err != nil {
				errc <- err
				return
			}
			b = b[n:]
		}
		errc <- c.CloseWrite()
	}
	recv := func(c *Conn, want []byte, errc chan<- error) {
		h := sha256.New()
		n, err := io.Copy(h, c)
		if err == nil && (n != int64(len(want)) || !bytes.Equal(h.Sum(nil), sha256Sum(want))) {
			err = errors.New("received data differs")
		}
		errc <- err
	}
	errc := make(chan error, 4)
	go send(c, dataA, errc)
	go send(s, dataB, errc)
	go recv(s, dataA, errc)
	go recv(c, dataB, errc)
	for range 4 {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			dumpConns(t, tn.pa)
			dumpConns(t, tn.pb)
			t.Fatal("transfer did not finish")
		}
	}
	c.Close()
	s.Close()
	checkNoLeaks(t, tn, g, pk)
}

func sha256Sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func TestHalfClose(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	c, s, _ := pair(t, tn)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("server read after client CloseWrite: %d, %v", n, err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write after CloseWrite: %v", err)
	}
	// The other direction still works.
	if _, err := s.Write([]byte("late reply")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "late reply" {
		t.Fatalf("client got %q, %v", got, err)
	}
	c.Close()
}

func TestDeadlines(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	c, s, _ := pair(t, tn)
	defer s.Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past deadline: %v", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Net != "tcp" || oe.Op != "read" {
		t.Errorf("error is not a tcp *net.OpError: %#v", err)
	}

	// A deadline set in the past wakes a Read that is already blocked.
	c.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	for c.e.rcondWaiters() == 0 {
		runtime.Gosched()
	}
	c.SetDeadline(time.Now().Add(-time.Second))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked read after past deadline: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("write past deadline: %v", err)
	}
	// Clearing the deadline makes the conn usable again.
	c.SetDeadline(time.Time{})
	if _, err := s.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read after clearing deadline: %d %v", n, err)
	}
	c.Close()
}

func TestConnectionRefused(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	_, err := Dial(ctxT(t), tn.a, netip.MustParseAddrPort("10.0.0.2:9"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial closed port: %v", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || oe.Addr.String() != "10.0.0.2:9" {
		t.Errorf("error %#v", err)
	}
	if n := tn.b.Counters().Value("tcp.tx.rst"); n != 1 {
		t.Errorf("B sent %d RSTs", n)
	}
}

func TestListenerCloseWakesAccept(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	ln, err := Listen(tn.b, netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:80")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := ln.Accept(); done <- err }()
	ln.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	// The port is free again and closed: dialing it is refused.
	if _, err := Dial(ctxT(t), tn.a, netip.MustParseAddrPort("10.0.0.2:80")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after listener close: %v", err)
	}
}

func TestResetOnCloseWithUnreadData(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	c, s, _ := pair(t, tn)
	if _, err := c.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	// Wait until the data has arrived at the server, then close unread.
	buf := make([]byte, 1)
	if n, err := s.Read(buf); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	s.Close()
	_, err := c.Read(buf)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after peer reset: %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("write after reset: %v", err)
	}
	c.Close()
}

func TestDialContextCancel(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{loss: 1}, linkFaults{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	var err error
	go func() { defer wg.Done(); _, err = Dial(ctx, tn.a, netip.MustParseAddrPort("10.0.0.2:80")) }()
	cancel()
	wg.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial after cancel: %v", err)
	}
	if len(tn.pa.Connections()) != 0 {
		t.Errorf("connections left: %v", tn.pa.Connections())
	}
}

func TestTimeWaitAndReuse(t *testing.T) {
	tn := newTestNet(t, Options{TimeWait: time.Hour}, linkFaults{}, linkFaults{})
	c, s, _ := pair(t, tn)
	c.Close() // active close: A ends in TIME_WAIT
	if _, err := io.ReadAll(s); err != nil {
		t.Fatal(err)
	}
	s.Close()
	waitState(t, tn.pa, "TIME_WAIT")
	// Protocol.Close ends TIME_WAIT without waiting an hour.
}

// waitState waits until p has a connection in the given state.
func waitState(t *testing.T, p *Protocol, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, ci := range p.Connections() {
			if ci.State == state {
				return
			}
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no connection reached %s: %v", state, p.Connections())
}

func dumpConns(t *testing.T, p *Protocol) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, e := range p.conns.appendTo(nil) {
		e.mu.Lock()
		c := &e.c
		t.Logf("%v->%v %v una %d nxt %d max %d wnd %d cwnd %d ssth %d snd.n %d bufseq %d fin %v/%d rcvNxt %d rcv.n %d free %d ooo %v rtx %v tw %v rto %v retries %d rec %v dup %d armed %v",
			e.id().local, e.id().remote, c.state, c.sndUna, c.sndNxt, c.sndMax, c.sndWnd, c.cwnd, c.ssthresh, c.snd.n, c.sndBufSeq,
			c.finQueued, c.finSeq, c.rcvNxt, c.rcv.n, c.rcv.free(), c.ooo, c.rtxAt, c.twAt, c.rtt.rto, c.retries, c.inRecovery, c.dupAcks, e.armedAt())
		e.mu.Unlock()
	}
}
