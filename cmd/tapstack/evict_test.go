package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// capServer serves handler on loopback behind a limitListener of maxConns
// that evicts header waiters; states receives every ConnState change.
func capServer(t *testing.T, maxConns int, handler http.Handler) (addr string, l *limitListener, states chan http.ConnState) {
	t.Helper()
	kl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := new(stack.Counters)
	l = newLimitListener(kl, "http", limits{MaxConns: maxConns, Idle: time.Minute}, cs)
	w := newHeaderWaiters("http", cs)
	l.evict = w.evictOldest
	states = make(chan http.ConnState, 64)
	srv := newHTTPServer(handler)
	srv.ConnState = func(c net.Conn, s http.ConnState) { w.connState(c, s); states <- s }
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return kl.Addr().String(), l, states
}

// waitState waits (bounded) for n ConnState changes to s.
func waitState(t *testing.T, states chan http.ConnState, s http.ConnState, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for n > 0 {
		select {
		case got := <-states:
			if got == s {
				n--
			}
		case <-deadline:
			t.Fatalf("still waiting for %d connections in %v", n, s)
		}
	}
}

func get(addr string) (int, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestCapEvictsOldestHeaderWaiter: with every place of the cap held by
// connections that never send their request header, a new client is
// served and the oldest waiter is closed (like nginx reusing keep-alive
// connections when it runs out), instead of the new client being reset.
func TestCapEvictsOldestHeaderWaiter(t *testing.T) {
	addr, l, states := capServer(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		held = append(held, c)
	}
	waitState(t, states, http.StateNew, 2)
	if code, err := get(addr); err != nil || code != http.StatusOK {
		t.Fatalf("new client at the cap: %d, %v; want 200", code, err)
	}
	held[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("oldest waiter: read %v, want EOF (evicted)", err)
	}
	if n := l.overLimit.Load(); n != 0 {
		t.Errorf("over_limit = %d, want 0", n)
	}
}

// TestCapKeepsServingConnections: connections serving a request are never
// evicted; a new client over the cap is refused as before.
func TestCapKeepsServingConnections(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	addr, l, states := capServer(t, 2, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, states, http.StateActive, 2)
	// The reset of the connection over the cap may already reach the
	// client in Dial (as "connection reset by peer", on a loaded machine).
	if c, err := net.Dial("tcp", addr); err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatal(err)
		}
	} else {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := bufio.NewReader(c).ReadByte(); err == nil {
			t.Error("a connection over a cap of serving connections was answered")
		}
	}
	if n := l.overLimit.Load(); n != 1 {
		t.Errorf("over_limit = %d, want 1", n)
	}
}
