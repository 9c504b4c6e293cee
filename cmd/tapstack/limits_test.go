package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// pipeListener is an in-memory net.Listener: dial hands the server one end
// of a net.Pipe (which has deadlines) and returns the other.
type pipeListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{} }

func (l *pipeListener) dial(t *testing.T) net.Conn {
	t.Helper()
	a, b := net.Pipe()
	select {
	case l.ch <- a:
	case <-time.After(10 * time.Second): // failure guard only
		t.Fatal("server does not accept")
	}
	b.SetDeadline(time.Now().Add(10 * time.Second)) // failure guard only
	return b
}

// waitFor polls cond with a bounded deadline (no sleeps).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TestMaxConnsClosesExcess: like xinetd's instances limit, a service
// accepts at most MaxConns connections; the next one is closed at once and
// counted, and a place freed by a closing connection is taken again.
func TestMaxConnsClosesExcess(t *testing.T) {
	var cs stack.Counters
	pl := newPipeListener()
	ll := newLimitListener(pl, "echo", limits{MaxConns: 2, Idle: time.Minute, ReadIdle: true}, &cs)
	s := startServer(ll, serveEcho)
	defer s.stop()

	echoes := func(c net.Conn) bool {
		go c.Write([]byte("hi"))
		buf := make([]byte, 2)
		_, err := io.ReadFull(c, buf)
		return err == nil && string(buf) == "hi"
	}
	c1, c2 := pl.dial(t), pl.dial(t)
	if !echoes(c1) || !echoes(c2) {
		t.Fatal("the first two connections are not served")
	}
	c3 := pl.dial(t)
	if n, err := c3.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third connection: read %d, %v; want EOF (closed at once)", n, err)
	}
	if got := cs.Value("svc.echo.over_limit"); got != 1 {
		t.Errorf("svc.echo.over_limit = %d, want 1", got)
	}
	c1.Close()
	waitFor(t, "the closed connection's place", func() bool { return ll.active.Load() == 1 })
	c4 := pl.dial(t)
	if !echoes(c4) {
		t.Fatal("a connection after one closed is not served")
	}
	c2.Close()
	c4.Close()
}

// TestIdleDeadline: a connection that moves no byte for the idle timeout
// is closed and counted: an echo or discard client that sends nothing,
// and a chargen client that reads nothing (a zero window).
func TestIdleDeadline(t *testing.T) {
	for _, tt := range []struct {
		name     string
		serve    func(net.Conn)
		readIdle bool
	}{
		{"echo", serveEcho, true},
		{"discard", serveDiscard, true},
		{"chargen", serveChargen, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var cs stack.Counters
			pl := newPipeListener()
			ll := newLimitListener(pl, tt.name, limits{MaxConns: 4, Idle: 20 * time.Millisecond, ReadIdle: tt.readIdle}, &cs)
			s := startServer(ll, tt.serve)
			defer s.stop()
			c := pl.dial(t)
			defer c.Close()
			// dial returns when Accept has the connection, maybe before the
			// listener counted it: without this, chargen (which needs no
			// read below) could see 0 active before its connection began.
			waitFor(t, "the accept", func() bool { return ll.active.Load() == 1 || cs.Value("svc."+tt.name+".idle_closed") == 1 })
			if tt.name != "chargen" { // chargen's writes block: it is closed without our read
				if _, err := c.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("silent client: read %v, want EOF", err)
				}
			}
			waitFor(t, "the idle close", func() bool { return ll.active.Load() == 0 })
			if got := cs.Value("svc." + tt.name + ".idle_closed"); got != 1 {
				t.Errorf("svc.%s.idle_closed = %d, want 1", tt.name, got)
			}
		})
	}
}

// scriptConn is a net.Conn whose Writes return the scripted results.
type scriptConn struct {
	net.Conn
	writes    []int // bytes each Write takes before its deadline passes; -1: all
	deadlines int
}

func (c *scriptConn) SetWriteDeadline(time.Time) error { c.deadlines++; return nil }

func (c *scriptConn) Write(b []byte) (int, error) {
	if len(c.writes) == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	n := c.writes[0]
	c.writes = c.writes[1:]
	if n < 0 {
		return len(b), nil
	}
	return n, os.ErrDeadlineExceeded
}

// TestWriteProgressDeadline: the write deadline measures time without
// progress: a write that the peer takes slowly but steadily (each deadline
// passing after some bytes) completes, one that takes nothing fails.
func TestWriteProgressDeadline(t *testing.T) {
	var cs stack.Counters
	ll := newLimitListener(nil, "http", limits{MaxConns: 1, Idle: time.Minute}, &cs)
	ll.active.Store(1)
	sc := &scriptConn{writes: []int{1, 5, 100, -1}}
	c := &guardedConn{Conn: sc, l: ll}
	if n, err := c.Write(make([]byte, 1000)); n != 1000 || err != nil {
		t.Fatalf("slow but steady write: %d, %v; want 1000, nil", n, err)
	}
	if sc.deadlines != 4 {
		t.Errorf("deadline set %d times, want 4 (once, then after each progress)", sc.deadlines)
	}
	sc.writes = []int{3, 0}
	if n, err := c.Write(make([]byte, 1000)); n != 3 || !errors.Is(err, errIdle) {
		t.Fatalf("stalled write: %d, %v; want 3, errIdle", n, err)
	}
	if got := cs.Value("svc.http.idle_closed"); got != 1 {
		t.Errorf("svc.http.idle_closed = %d, want 1", got)
	}
}

// readSizes is a net.Conn that records the buffer size of each Read and
// returns the scripted lengths, then EOF.
type readSizes struct {
	net.Conn
	n     []int
	sizes []int
}

func (c *readSizes) Read(b []byte) (int, error) {
	c.sizes = append(c.sizes, len(b))
	if len(c.n) == 0 {
		return 0, io.EOF
	}
	n := min(c.n[0], len(b))
	c.n = c.n[1:]
	return n, nil
}

// TestPumpWaitsWithSmallBuffer: echo and discard wait for data with a
// 1 KiB buffer and take a pooled 16 KiB one only while reads fill it, so
// an idle connection pins 1 KiB, not 32 KiB as io.Copy did.
func TestPumpWaitsWithSmallBuffer(t *testing.T) {
	c := &readSizes{n: []int{10, smallBuf, bulkBuf, bulkBuf, 500, 3}}
	var got int
	if err := pump(c, func(b []byte) error { got += len(b); return nil }); err != io.EOF {
		t.Fatalf("pump: %v", err)
	}
	want := []int{smallBuf, smallBuf, bulkBuf, bulkBuf, bulkBuf, smallBuf, smallBuf}
	if !slices.Equal(c.sizes, want) {
		t.Errorf("read buffer sizes %v, want %v", c.sizes, want)
	}
	if got != 10+smallBuf+2*bulkBuf+500+3 {
		t.Errorf("pumped %d bytes", got)
	}
}

// TestHTTPServerLimits: the :80 server has header, read and idle timeouts
// and an 8 KiB header limit (net/http's default is 1 MB, which let 400
// connections take 512 MiB); a longer header gets 431.
func TestHTTPServerLimits(t *testing.T) {
	srv := newHTTPServer(httpHandler(nil, statusOff))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("timeouts: header %v, read %v, idle %v; want all set", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout)
	}
	if srv.MaxHeaderBytes != 8<<10 {
		t.Errorf("MaxHeaderBytes = %d, want 8 KiB", srv.MaxHeaderBytes)
	}
	if srv.WriteTimeout != 0 {
		t.Errorf("WriteTimeout = %v: it would cut long /bytes downloads (the write progress deadline bounds writes)", srv.WriteTimeout)
	}
	var cs stack.Counters
	pl := newPipeListener()
	go srv.Serve(newLimitListener(pl, "http", limits{MaxConns: 4, Idle: time.Minute}, &cs))
	defer srv.Close()
	for _, tt := range []struct {
		header int
		status string
	}{
		{100, "HTTP/1.1 200 OK"},
		{16 << 10, "HTTP/1.1 431 Request Header Fields Too Large"},
	} {
		c := pl.dial(t)
		go io.WriteString(c, "GET /bytes?n=3 HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", tt.header)+"\r\n\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != tt.status {
			t.Errorf("%d-byte header: %q, %v; want %s", tt.header, line, err, tt.status)
		}
		c.Close()
	}
}
