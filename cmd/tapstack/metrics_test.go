package main

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/tap"
)

// pipeHost returns a host at 10.0.0.2 on one end of a pipe, closed with
// the test.
func pipeHost(t *testing.T) *host.Host {
	t.Helper()
	d, peer := link.Pipe(1500)
	t.Cleanup(func() { peer.Close() })
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: d, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// obsHosts returns a host (10.0.0.2, listening on :80) with one
// established connection from a second host.
func obsHosts(t *testing.T) *host.Host {
	t.Helper()
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
	l, err := hs[0].Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	c, err := hs[1].Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return hs[0]
}

func serveGet(h http.Handler, url string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
	return rec
}

// The control socket serves /ss (ss -tanoi) and /metrics (Prometheus'
// parser reads it); :80 serves /metrics only with --status full.
func TestControlServesSSAndMetrics(t *testing.T) {
	h := obsHosts(t)
	ctl := controlHandler(upConfig{}, h)

	rec := serveGet(ctl, "/ss")
	if rec.Code != 200 || !regexp.MustCompile(`(?m)^LISTEN +0 +4096 +\*:80 +\*:\*\nESTAB +0 +0 +10\.0\.0\.2:80 +10\.0\.0\.1:\d+ *\n\t .*cwnd:\d+ .*bytes_received:0`).MatchString(rec.Body.String()) {
		t.Errorf("/ss: %d\n%s", rec.Code, rec.Body.String())
	}
	if rec := serveGet(ctl, "/ss?family=6"); strings.Contains(rec.Body.String(), "ESTAB") {
		t.Errorf("/ss?family=6 shows the IPv4 connection:\n%s", rec.Body.String())
	}

	rec = serveGet(ctl, "/metrics")
	if ct := rec.Header().Get("Content-Type"); rec.Code != 200 || !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("/metrics: %d %q", rec.Code, ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if f := fams["tapstack_tcp_conn_passive_opens_total"]; f == nil || f.Metric[0].GetCounter().GetValue() != 1 || f.GetHelp() == "" {
		t.Errorf("tapstack_tcp_conn_passive_opens_total: %v", f)
	}
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s: no HELP", name)
		}
	}

	for _, tt := range []struct {
		mode statusMode
		code int
	}{{statusPublic, 404}, {statusOff, 404}, {statusFull, 200}} {
		rec := serveGet(httpHandler(h, tt.mode), "/metrics")
		if rec.Code != tt.code || (tt.code == 200) != strings.Contains(rec.Body.String(), "# HELP tapstack_tcp_rx_segments_total") {
			t.Errorf(":80/metrics with status mode %d: %d\n%.200s", tt.mode, rec.Code, rec.Body.String())
		}
	}
}

// labelledSamples parses text with Prometheus' parser, checks that it
// holds families families, each with a HELP line, and returns every
// sample's value under its family's name and its labels
// ("name,label=value,...").
func labelledSamples(t *testing.T, text string, families int) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if len(fams) != families {
		t.Errorf("%d families, want %d", len(fams), families)
	}
	got := map[string]float64{}
	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s: no HELP", name)
		}
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	return got
}

// wantSamples checks the samples want among got.
func wantSamples(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for key, w := range want {
		if v, ok := got[key]; !ok || v != w {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, w)
		}
	}
}

// The TAPs' counters are families with one sample per device, labelled
// tap="NAME" (and queue="N" for the per-queue reads), which Prometheus'
// parser reads back with their values.
func TestTapMetricsLabelled(t *testing.T) {
	var b strings.Builder
	writeTapMetrics(&b, []tapStats{
		{"tap0", tap.Stats{RxFrames: 7, TxBytes: 1500, RxQueueFrames: []uint64{4, 3}}},
		{"tap1", tap.Stats{RxFrames: 1}},
	})
	wantSamples(t, labelledSamples(t, b.String(), len(tapFamilies)+1), map[string]float64{
		"tapstack_tap_rx_frames_total,tap=tap0":               7,
		"tapstack_tap_rx_frames_total,tap=tap1":               1,
		"tapstack_tap_tx_bytes_total,tap=tap0":                1500,
		"tapstack_tap_rx_queue_frames_total,tap=tap0,queue=1": 3,
		"tapstack_tap_tx_checksum_partial_total,tap=tap1":     0,
	})
	if b.Reset(); writeTapMetrics(&b, nil) != nil || b.Len() != 0 {
		t.Errorf("no devices: %q", b.String())
	}
}

// What --faults injected is a family per kind of fault with a sample per
// interface and direction, which Prometheus' parser reads back.
func TestFaultMetricsLabelled(t *testing.T) {
	var b strings.Builder
	writeFaultMetrics(&b, []faultStats{{nic: "tap0", tx: link.FaultStats{Lost: 3, Overflowed: 2}, rx: link.FaultStats{Reordered: 5}}})
	wantSamples(t, labelledSamples(t, b.String(), len(faultFamilies)), map[string]float64{
		"tapstack_faults_lost_total,nic=tap0,dir=tx":       3,
		"tapstack_faults_overflowed_total,nic=tap0,dir=tx": 2,
		"tapstack_faults_reordered_total,nic=tap0,dir=rx":  5,
		"tapstack_faults_lost_total,nic=tap0,dir=rx":       0,
	})
	if b.Reset(); writeFaultMetrics(&b, nil) != nil || b.Len() != 0 {
		t.Errorf("no decorators: %q", b.String())
	}
}
