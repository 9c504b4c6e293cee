package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
)

// newHost is a host on one end of a pipe, at 10.0.0.2/24, with a VLAN
// trunk (10.0.10.2/24 on VLAN 10) on a second pipe; closed with the test.
func newHost(t *testing.T) *host.Host {
	t.Helper()
	d, peer := link.Pipe(1500)
	t.Cleanup(func() { peer.Close() })
	d2, peer2 := link.Pipe(1500)
	t.Cleanup(func() { peer2.Close() })
	trunk := link.NewTrunk(d2, host.RandomMAC())
	vlan, err := trunk.VLAN(10, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(host.Config{
		Interfaces: []host.Interface{
			{Name: "eth0", Device: d, Addr: netip.MustParsePrefix("10.0.0.2/24")},
			{Name: link.VLANName("eth1", 10), Endpoint: vlan, Addr: netip.MustParsePrefix("10.0.10.2/24")},
		},
		Gateway: netip.MustParseAddr("10.0.0.1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func get(t *testing.T, hd http.Handler, path, accept string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	hd.ServeHTTP(w, r)
	return w
}

// TestWantsHTML: a browser's Accept header asks for HTML; curl's */*,
// none at all, and JSON do not (RFC 9110 12.5.1 media ranges).
func TestWantsHTML(t *testing.T) {
	for _, tt := range []struct {
		accept string
		want   bool
	}{
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
		{"application/xhtml+xml", true},
		{"TEXT/HTML", true},
		{"*/*", false},
		{"", false},
		{"application/json", false},
		{"text/plain, text/*", false},
		{";;;,,", false},
		{"text/html;q=0, */*", false},
		{"text/html;q=0.5", true},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.accept != "" {
			r.Header.Set("Accept", tt.accept)
		}
		if got := WantsHTML(r); got != tt.want {
			t.Errorf("Accept %q: WantsHTML %v, want %v", tt.accept, got, tt.want)
		}
	}
}

// TestSnapshotTables: the JSON has the interfaces (the VLAN with its
// parent and VID), addresses, routes, TCP listeners and the counters with
// what they count.
func TestSnapshotTables(t *testing.T) {
	h := newHost(t)
	ln, err := h.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h.Stack().Counters().Get("tcp.rx.bad_checksum").Inc()
	s := New(h, Options{})
	defer s.Close()
	w := get(t, s, "/status.json", "")
	if ct := w.Header().Get("Content-Type"); w.Code != 200 || ct != "application/json" {
		t.Fatalf("status.json: %d %s", w.Code, ct)
	}
	var snap Snapshot
	if err := json.Unmarshal(w.Body.Bytes(), &snap); err != nil {
		t.Fatal(err)
	}
	if len(snap.Interfaces) != 2 {
		t.Fatalf("interfaces %+v", snap.Interfaces)
	}
	if i := snap.Interfaces[0]; i.Name != "eth0" || i.Kind != "ethernet" || len(i.Addrs) == 0 || i.Addrs[0].Prefix != "10.0.0.2/24" {
		t.Errorf("eth0: %+v", i)
	}
	if i := snap.Interfaces[1]; i.Name != "eth1.10" || i.Kind != "vlan" || i.VID != 10 || i.Parent != "eth1" {
		t.Errorf("eth1.10: %+v", i)
	}
	var dflt bool
	for _, r := range snap.Routes {
		if r.Dst == "default" && r.Via == "10.0.0.1" && r.Dev == "eth0" {
			dflt = true
		}
	}
	if !dflt {
		t.Errorf("no default route via 10.0.0.1 dev eth0: %+v", snap.Routes)
	}
	if len(snap.TCP) != 1 || snap.TCP[0].State != "LISTEN" || !strings.HasSuffix(snap.TCP[0].Local, ":80") {
		t.Errorf("tcp %+v", snap.TCP)
	}
	var help string
	for _, c := range snap.Counters {
		if c.Name == "tcp.rx.bad_checksum" && c.Value == 1 {
			help = c.Help
		}
	}
	if !strings.Contains(help, "checksum") {
		t.Errorf("tcp.rx.bad_checksum: help %q (counters %d)", help, len(snap.Counters))
	}
	if !snap.Sampling || snap.Public {
		t.Errorf("sampling %v public %v", snap.Sampling, snap.Public)
	}
}

// TestSnapshotGraphOfATransfer: two hosts on a pipe, one downloading
// from the other; the sender's snapshot shows the connection's ss -ti
// details and a graph whose ACK line reaches the bytes sent.
func TestSnapshotGraphOfATransfer(t *testing.T) {
	a, b := link.Pipe(1500)
	ha, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: a, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: b, Addr: netip.MustParsePrefix("10.0.0.1/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	ln, err := ha.Listen("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := New(ha, Options{SampleInterval: time.Millisecond})
	defer s.Close()
	const n = 1 << 20
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.Snapshot() // start the sampler before the data flows
		c.Write(make([]byte, n))
		// keep the connection open: its history stays while it exists
	}()
	c, err := hb.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		snap := s.Snapshot()
		var got *Conn
		for i := range snap.TCP {
			if snap.TCP[i].State == "ESTABLISHED" {
				got = &snap.TCP[i]
			}
		}
		if got != nil && got.Detail != nil && got.Graph != nil && len(got.Graph.Samples) >= 2 {
			last := got.Graph.Samples[len(got.Graph.Samples)-1]
			if last[1] == n { // snd_una relative to ISS+1
				if got.Detail.SndUna != n+1 || got.Detail.MSS == 0 || got.Detail.Cwnd == 0 || !strings.HasPrefix(got.Remote, "10.0.0.1:") {
					t.Errorf("detail %+v remote %s", got.Detail, got.Remote)
				}
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no graph reaching %d: %+v", n, got)
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
}

// TestPublicSnapshot: the page on the network shows neither peers nor
// counters nor TCP details (CVE-2016-5696), and starts no sampler.
func TestPublicSnapshot(t *testing.T) {
	h := newHost(t)
	h.Stack().Counters().Get("tcp.tx.challenge_acks").Inc()
	s := New(h, Options{Public: true})
	defer s.Close()
	body := get(t, s, "/status.json", "").Body.String()
	for _, hidden := range []string{"tcp.tx.challenge_acks", `"detail"`, `"graph"`, `"snd_una"`} {
		if strings.Contains(body, hidden) {
			t.Errorf("public JSON shows %s:\n%s", hidden, body)
		}
	}
	if !strings.Contains(body, `"counters":null`) || !strings.Contains(body, "10.0.0.2/24") {
		t.Errorf("public JSON:\n%s", body)
	}
	if s.smp.isRunning() {
		t.Error("public page started the sampler")
	}
}

// TestAssets: the page, its script and style come from the binary with
// their types and a policy that forbids anything from elsewhere.
func TestAssets(t *testing.T) {
	h := newHost(t)
	s := New(h, Options{Public: true})
	defer s.Close()
	for _, tt := range []struct{ path, ctype, has string }{
		{"/", "text/html; charset=utf-8", `<script src="/static/app.js"`},
		{"/status", "text/html; charset=utf-8", `id="t-tcp"`},
		{"/static/app.js", "text/javascript; charset=utf-8", "status.json"},
		{"/static/style.css", "text/css; charset=utf-8", "focus-visible"},
	} {
		w := get(t, s, tt.path, "text/html")
		if w.Code != 200 || w.Header().Get("Content-Type") != tt.ctype || !strings.Contains(w.Body.String(), tt.has) {
			t.Errorf("%s: %d %q, body has %q: %v", tt.path, w.Code, w.Header().Get("Content-Type"), tt.has, strings.Contains(w.Body.String(), tt.has))
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s: CSP %q", tt.path, csp)
		}
	}
	if w := get(t, s, "/static/nothing.js", ""); w.Code != 404 {
		t.Errorf("unknown asset: %d", w.Code)
	}
	r := httptest.NewRequest("POST", "/status.json", nil)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, _ := assets.ReadFile("assets/" + name)
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "") // a namespace, not a fetch
		for _, a := range []string{"http://", "https://", "src=\"//", "href=\"//", "@import", "url("} {
			if strings.Contains(text, a) {
				t.Errorf("%s refers to %s...", name, a)
			}
		}
	}
}
