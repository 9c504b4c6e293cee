package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStatusModes: by default (--status public) the page on :80 hides
// peers and counters (CVE-2016-5696 needs both); full shows the operator's
// page, off serves none.
func TestStatusModes(t *testing.T) {
	h := pipeHost(t)
	h.Stack().Counters().Get("tcp.tx.challenge_ack").Inc()
	for _, tt := range []struct {
		flag   string
		status int
		want   []string
		hidden []string
	}{
		{"public", 200, []string{"inet 10.0.0.2/24", "# counters: not shown"}, []string{"tcp.tx.challenge_ack"}},
		{"full", 200, []string{"inet 10.0.0.2/24", "tcp.tx.challenge_ack"}, nil},
		{"off", 404, []string{"tapstack status"}, []string{"inet 10.0.0.2/24"}},
	} {
		cfg, err := parseUp([]string{"--tap", "tap0", "--addr", "10.0.0.2/24", "--status", tt.flag})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		httpHandler(h, cfg.Status).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		body := rec.Body.String()
		if rec.Code != tt.status {
			t.Errorf("--status %s: HTTP %d, want %d", tt.flag, rec.Code, tt.status)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("--status %s: page lacks %q:\n%s", tt.flag, w, body)
			}
		}
		for _, w := range tt.hidden {
			if strings.Contains(body, w) {
				t.Errorf("--status %s: page shows %q:\n%s", tt.flag, w, body)
			}
		}
		// /bytes is served in every mode.
		rec = httptest.NewRecorder()
		httpHandler(h, cfg.Status).ServeHTTP(rec, httptest.NewRequest("GET", "/bytes?n=3", nil))
		if rec.Code != http.StatusOK || rec.Body.String() != "abc" {
			t.Errorf("--status %s: /bytes %d %q", tt.flag, rec.Code, rec.Body.String())
		}
	}
	if cfg, _ := parseUp([]string{"--tap", "tap0", "--addr", "10.0.0.2/24"}); cfg.Status != statusPublic {
		t.Errorf("default --status is %v, want public", cfg.Status)
	}
}

// TestLimitFlags: the limits' flags and their defaults.
func TestLimitFlags(t *testing.T) {
	base := []string{"--tap", "tap0", "--addr", "10.0.0.2/24"}
	cfg, err := parseUp(append(base, "--max-conns", "1000", "--idle-timeout", "30s", "--memory-limit", "256MiB"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConns != 1000 || cfg.Idle.String() != "30s" || cfg.MemoryLimit != 256<<20 {
		t.Errorf("got max-conns %d idle %v memory-limit %d", cfg.MaxConns, cfg.Idle, cfg.MemoryLimit)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--status", "private"}, `malformed --status "private"`},
		{[]string{"--max-conns", "0"}, "--max-conns 0 is out of range"},
		{[]string{"--max-conns", "many"}, "malformed --max-conns"},
		{[]string{"--idle-timeout", "10ms"}, `malformed --idle-timeout "10ms"`},
		{[]string{"--idle-timeout", "2"}, `malformed --idle-timeout "2"`},
		{[]string{"--memory-limit", "1MiB"}, `malformed --memory-limit "1MiB"`},
		{[]string{"--memory-limit", "lots"}, `malformed --memory-limit "lots"`},
	} {
		_, err := parseUp(append(append([]string(nil), base...), tt.args...))
		if _, ok := err.(*usageError); !ok || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want a usage error with %q", tt.args, err, tt.want)
		}
	}
	for s, want := range map[string]int64{"1048576": 1 << 20, "512KiB": 512 << 10, "64MiB": 64 << 20, "2GiB": 2 << 30} {
		if n, err := parseSize(s); n != want || err != nil {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
}
