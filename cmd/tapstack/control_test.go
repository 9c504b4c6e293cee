package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestBelievedRootOrSameUser: the control socket's rule, both ways
// (DESIGN: "believes only root or its own user"): root and the same user
// are believed, any other user is not.
func TestBelievedRootOrSameUser(t *testing.T) {
	for _, tt := range []struct {
		peer, self uint32
		want       bool
	}{
		{0, 0, true},           // root talks to root
		{0, 1000, true},        // a user believes a root host
		{1000, 0, false},       // root does not believe a user's socket
		{1000, 1000, true},     // the same user
		{65534, 0, false},      // nobody squatting root's name
		{65534, 1000, false},   // nobody squatting a user's name
		{1000, 1001, false},    // another user
		{1001, 65534, false},   // and the other way round
		{65534, 65534, true},   // nobody's own host
		{4294967295, 0, false}, // overflow uid
	} {
		if got := believed(tt.peer, tt.self); got != tt.want {
			t.Errorf("believed(peer %d, self %d) = %v, want %v", tt.peer, tt.self, got, tt.want)
		}
	}
}

// TestCheckServerSaysWhy: the CLI's decision names the server's uid and
// pid in one line, and tells a user apart from a squatter.
func TestCheckServerSaysWhy(t *testing.T) {
	for _, tt := range []struct {
		p    peer
		self uint32
		want string // "" = trusted
	}{
		{peer{0, 10}, 0, ""},
		{peer{1000, 10}, 1000, ""},
		{peer{65534, 1234}, 0, "@tapstack/tap0 is served by uid 65534 (pid 1234), not by root or you: refusing to trust it"},
		{peer{1001, 77}, 1000, "@tapstack/tap0 is served by uid 1001 (pid 77), not by root or you: refusing to trust it"},
		{peer{0, 55}, 1000, "the host on tap0 runs as root (pid 55) and answers only root: run this command as root"},
	} {
		err := checkServer("@tapstack/tap0", tt.p, tt.self)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("server %+v, self %d: %v, want trusted", tt.p, tt.self, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("server %+v, self %d: %v, want %q", tt.p, tt.self, err, tt.want)
		}
	}
}

// testControl serves a handler counting its requests on a unix socket in a
// temporary directory (not an abstract name: unit tests add nothing to the
// network namespace) with limits lim, and returns the socket's path.
func testControl(t *testing.T, lim controlLimits) (string, *atomic.Int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctl")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		fmt.Fprintln(w, "table")
	})
	c := serveControl([]net.Listener{l}, mux, lim)
	t.Cleanup(c.close)
	return path, &calls
}

// slowLimits are the default limits with timeouts no test reaches.
func slowLimits() controlLimits {
	lim := defaultControlLimits
	lim.readHeader, lim.read, lim.write, lim.idle = time.Minute, time.Minute, time.Minute, time.Minute
	return lim
}

// rawRequest sends req on a new connection to path and returns all the
// server wrote before closing (bounded by a 10 s deadline, which counts as
// a failure).
func rawRequest(t *testing.T, path, req string) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if req != "" {
		c.Write([]byte(req)) // a refused connection may be closed already
	}
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("reading the reply: %v (got %q)", err, b)
	}
	return string(b)
}

// TestControlRefusesOtherUsersAtAccept: a client that is neither root nor
// the host's user gets one 403 line and a closed connection, and no
// handler runs for it; it costs the host no goroutine.
func TestControlRefusesOtherUsersAtAccept(t *testing.T) {
	lim := slowLimits()
	lim.peerCred = func(net.Conn) (peer, error) { return peer{uid: 65534, pid: 1}, nil }
	if os.Geteuid() == 65534 {
		t.Skip("runs as uid 65534")
	}
	path, calls := testControl(t, lim)
	got := rawRequest(t, path, "GET /arp HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 403 Forbidden\r\n") || !strings.Contains(got, "permission denied: only root or uid") {
		t.Errorf("reply to uid 65534: %q, want a 403 naming who may connect", got)
	}
	// Even without sending anything, the connection is closed at once.
	if got := rawRequest(t, path, ""); !strings.HasPrefix(got, "HTTP/1.1 403") {
		t.Errorf("reply to a silent uid 65534: %q, want a 403 and EOF", got)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the handler ran %d times for a refused user", n)
	}
	// A failing SO_PEERCRED is refused too.
	lim.peerCred = func(net.Conn) (peer, error) { return peer{}, errors.New("no creds") }
	path, _ = testControl(t, lim)
	if got := rawRequest(t, path, "GET /arp HTTP/1.1\r\nHost: x\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 403") {
		t.Errorf("reply without credentials: %q, want a 403", got)
	}
}

// TestControlServesRootAndOwner: the real SO_PEERCRED of this test (root
// or the owner, since it runs the server itself) is served.
func TestControlServesRootAndOwner(t *testing.T) {
	path, calls := testControl(t, slowLimits())
	out, err := controlDo(path, "GET", "/arp")
	if err != nil || out != "table\n" || calls.Load() != 1 {
		t.Fatalf("controlDo: %q, %v (%d calls), want the table", out, err, calls.Load())
	}
}

// TestControlConnectionCap: with maxConns connections open, one more is
// answered 503 and closed at once; when one closes, the next is served.
func TestControlConnectionCap(t *testing.T) {
	lim := slowLimits()
	lim.maxConns = 3
	path, _ := testControl(t, lim)
	var held []net.Conn
	for range lim.maxConns {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	// Connections are accepted in order, so these hold every slot.
	got := rawRequest(t, path, "GET /arp HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 503") || !strings.Contains(got, "too many control connections (3)") {
		t.Fatalf("connection over the cap: %q, want 503", got)
	}
	held[0].Close()
	if !poll(10*time.Second, func() bool {
		out, err := controlDo(path, "GET", "/arp")
		return err == nil && out == "table\n"
	}) {
		t.Fatal("no request served after a slot was freed")
	}
}

// poll calls f until it returns true or bound has passed.
func poll(bound time.Duration, f func() bool) bool {
	deadline := time.Now().Add(bound)
	for !f() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// TestControlHeaderAndBodyLimits: a header over MaxHeaderBytes gets 431,
// a request with a body 413, and neither reaches the handler.
func TestControlHeaderAndBodyLimits(t *testing.T) {
	path, calls := testControl(t, slowLimits())
	big := strings.Repeat("a", 64<<10)
	if got := rawRequest(t, path, "GET /arp HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Errorf("64 KiB header: %.80q, want 431", got)
	}
	if got := rawRequest(t, path, "POST /arp/flush HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"); !strings.HasPrefix(got, "HTTP/1.1 413") {
		t.Errorf("request with a body: %.80q, want 413", got)
	}
	if got := rawRequest(t, path, "POST /arp/flush HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 413") {
		t.Errorf("request with a chunked body: %.80q, want 413", got)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the handler ran %d times", n)
	}
}

// TestControlTimeouts: a client that never finishes its header, and one
// that stays idle after a request, are closed by the server (the reads end
// in EOF, not in the test's own 10 s deadline).
func TestControlTimeouts(t *testing.T) {
	lim := slowLimits()
	lim.readHeader, lim.read, lim.idle = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	path, _ := testControl(t, lim)
	if got := rawRequest(t, path, "GET /arp HTTP/1.1\r\nHost: x\r\n"); got != "" {
		t.Errorf("slow header: server wrote %q, want a silent close", got)
	}
	if got := rawRequest(t, path, ""); got != "" {
		t.Errorf("silent client: server wrote %q, want a silent close", got)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET /arp HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle kept-alive connection: %v, want EOF", err)
	}
}

// TestControlDoReplyLimit: the CLI reads at most controlMaxReply bytes of
// a reply and refuses a longer one in one line, without reading the rest
// (the server could write gigabytes); one of exactly that size is
// accepted.
func TestControlDoReplyLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := strings.Repeat("x", 1<<20)
	written := make(chan int, 2)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, sent := controlMaxReply, 0
		if r.URL.Path == "/huge" {
			n = 1 << 30
		}
		defer func() { written <- sent }()
		for ; n >= len(chunk); n -= len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
			sent += len(chunk)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	out, err := controlDo(path, "GET", "/full")
	if err != nil || len(out) != controlMaxReply {
		t.Errorf("reply of exactly %d bytes: %d bytes, %v", controlMaxReply, len(out), err)
	}
	<-written
	out, err = controlDo(path, "GET", "/huge")
	if err == nil || !strings.Contains(err.Error(), "longer than 16 MiB: refusing it") || out != "" {
		t.Errorf("1 GiB reply: %d bytes, %v, want refused", len(out), err)
	}
	select {
	case n := <-written:
		// What the CLI read plus what the socket buffers held.
		if n > controlMaxReply+8<<20 {
			t.Errorf("the server wrote %d MiB of its 1 GiB reply before the CLI gave up, want about 16", n>>20)
		}
	case <-time.After(30 * time.Second):
		t.Error("the CLI kept the 1 GiB reply's connection open")
	}
}

// TestSquattedErrorNamesHolder: when up cannot take its socket name, it
// names the holder: a listener (SO_PEERCRED) or a socket bound without
// listening (found through /proc); a holder of our own user keeps the
// "another tapstack" hint. (This test holds the name itself, so it is
// believed; the integration test squats as uid 65534.)
func TestSquattedErrorNamesHolder(t *testing.T) {
	dir := t.TempDir()
	listening := filepath.Join(dir, "listening")
	l, err := net.Listen("unix", listening)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	bound := filepath.Join(dir, "bound")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: bound}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{listening, bound} {
		p, err := holderOf(addr)
		if err != nil || p.pid != int32(os.Getpid()) || p.uid != uint32(os.Geteuid()) {
			t.Errorf("holderOf(%s) = %+v, %v; want pid %d uid %d", addr, p, err, os.Getpid(), os.Geteuid())
		}
		msg := squattedError(addr, "tap0", errors.New("address already in use")).Error()
		want := fmt.Sprintf("is another tapstack running on tap0 in this network namespace? pid %d holds it", os.Getpid())
		if !strings.Contains(msg, want) {
			t.Errorf("squattedError(%s) = %q, want it to contain %q", addr, msg, want)
		}
	}
}
