package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
)

// TestUpTraceFlag: --trace takes a filter ("all" for everything) and a
// malformed one is a usage error naming the word.
func TestUpTraceFlag(t *testing.T) {
	base := []string{"--tap", "tap0", "--addr", "10.0.0.2/24"}
	cfg, err := parseUp(base)
	if err != nil || cfg.Trace != nil {
		t.Fatalf("no --trace: %v %v", cfg.Trace, err)
	}
	for flag, want := range map[string]string{"tcp port 80": "tcp port 80", "all": "", "": ""} {
		cfg, err := parseUp(append(base, "--trace", flag))
		if err != nil || cfg.Trace == nil || cfg.Trace.String() != want {
			t.Errorf("--trace %q: %v, %v", flag, cfg.Trace, err)
		}
	}
	_, err = parseUp(append(base, "--trace", "tcp prot 80"))
	if err == nil || !strings.Contains(err.Error(), `"prot"`) {
		t.Errorf("--trace 'tcp prot 80': %v", err)
	}
	if err := runTrace([]string{"tcp and"}, nil, nil); err == nil || !strings.Contains(err.Error(), "too early") {
		t.Errorf("trace 'tcp and': %v", err)
	}
}

// TestTraceOutlivesControlTimeouts: a trace stream keeps going after the
// control server's read, write and idle timeouts have passed, and shows
// traffic that came after them.
func TestTraceOutlivesControlTimeouts(t *testing.T) {
	a, b := link.Pipe(1500)
	var hs [2]*host.Host
	for i, d := range []link.Device{a, b} {
		h, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{Name: "eth0", Device: d, Addr: netip.MustParsePrefix([]string{"10.0.0.2/24", "10.0.0.1/24"}[i])}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		hs[i] = h
	}
	lim := defaultControlLimits
	lim.readHeader, lim.read, lim.write, lim.idle = time.Second, 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	path := filepath.Join(t.TempDir(), "ctl")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	c := serveControl([]net.Listener{l}, controlHandler(upConfig{}, hs[0]), lim)
	t.Cleanup(c.close)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second)) // a failure guard
	fmt.Fprintf(conn, "GET /trace?f=tcp+port+80 HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || sc.Text() != "tracing packets matching tcp port 80" {
		t.Fatalf("first line %q, %v", sc.Text(), sc.Err())
	}
	// Let every server timeout pass, then make traffic.
	for start := time.Now(); time.Since(start) < 4*lim.read; {
		time.Sleep(lim.read) // waiting out the timeouts under test, not synchronising
	}
	go hs[1].Dial("tcp", "10.0.0.2:80")
	for sc.Scan() {
		if strings.Contains(sc.Text(), "→ 80 [SYN]") {
			return
		}
	}
	t.Fatalf("the trace ended without the SYN: %v", sc.Err())
}
