package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStatusContentNegotiation (issue 19): on :80 and on the control
// socket, a browser (Accept: text/html) gets the web page and curl keeps
// the text; /status.json follows --status (public: no counters), and
// --status off serves neither.
func TestStatusContentNegotiation(t *testing.T) {
	h := pipeHost(t)
	h.Stack().Counters().Get("tcp.tx.challenge_acks").Inc()
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	handler := func(mode string) http.Handler {
		if mode == "control" {
			return controlHandler(upConfig{}, h)
		}
		cfg, err := parseUp([]string{"--tap", "tap0", "--addr", "10.0.0.2/24", "--status", mode})
		if err != nil {
			t.Fatal(err)
		}
		return httpHandler(h, cfg.Status)
	}
	for _, tt := range []struct {
		mode, path, accept string
		code               int
		ctype, has, hasnt  string
	}{
		{"public", "/", browser, 200, "text/html", `id="t-tcp"`, ""},
		{"public", "/", "*/*", 200, "text/plain", "# interfaces", "<html"},
		{"public", "/status.json", "", 200, "application/json", `"counters":null`, "challenge_acks"},
		{"public", "/static/app.js", "", 200, "text/javascript", "status.json", ""},
		{"full", "/", browser, 200, "text/html", `id="t-counters"`, ""},
		{"full", "/", "", 200, "text/plain", "tcp.tx.challenge_acks", ""},
		{"full", "/status.json", "", 200, "application/json", "tcp.tx.challenge_acks", ""},
		{"off", "/", browser, 404, "text/plain", "tapstack status", "<html"},
		{"off", "/status.json", "", 404, "text/plain", "", "interfaces"},
		{"control", "/status", browser, 200, "text/html", `id="t-arp"`, ""},
		{"control", "/status", "", 200, "text/plain", "# interfaces", "<html"},
		{"control", "/status.json", "", 200, "application/json", "tcp.tx.challenge_acks", ""},
		{"control", "/static/style.css", "", 200, "text/css", "focus-visible", ""},
	} {
		r := httptest.NewRequest("GET", tt.path, nil)
		if tt.accept != "" {
			r.Header.Set("Accept", tt.accept)
		}
		w := httptest.NewRecorder()
		handler(tt.mode).ServeHTTP(w, r)
		body := w.Body.String()
		if w.Code != tt.code || !strings.HasPrefix(w.Header().Get("Content-Type"), tt.ctype) ||
			!strings.Contains(body, tt.has) || (tt.hasnt != "" && strings.Contains(body, tt.hasnt)) {
			t.Errorf("%s %s (Accept %q): %d %s, want %d %s with %q without %q:\n%.300s",
				tt.mode, tt.path, tt.accept, w.Code, w.Header().Get("Content-Type"), tt.code, tt.ctype, tt.has, tt.hasnt, body)
		}
	}
}
