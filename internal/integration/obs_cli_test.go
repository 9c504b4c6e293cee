package integration

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestSSNeighMetricsCLI: with a Linux client connected to the discard
// service, `tapstack ss` shows the connection like ss -tanoi (with the
// bytes it received), `tapstack neigh` the client's REACHABLE entry, and
// `tapstack metrics` (and http://HOST/metrics with --status full) parse
// with Prometheus' text parser (issue 19, parts 3 and 4).
func TestSSNeighMetricsCLI(t *testing.T) {
	ns := bridgeNS(t)
	bin := binary(t)
	startTapstack(t, ns, "tapstack: up on tap0", "up", "--tap", "tap0", "--bridge", "br0",
		"--addr", "10.0.0.2/24", "--mac", "02:00:00:00:00:02", "--status", "full", "--no-slaac")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := linuxDial(ctx, ns, "tcp4", "10.0.0.2:9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(bytes.Repeat([]byte("x"), 1000)); err != nil {
		t.Fatal(err)
	}
	local := regexp.QuoteMeta(c.LocalAddr().String())
	ssWant := regexp.MustCompile(`(?m)^State +Recv-Q +Send-Q +Local Address:Port +Peer Address:Port\n(LISTEN .*\n)+` +
		`ESTAB +0 +0 +10\.0\.0\.2:9 +` + local + ` *.*\n\t .*rto:\d+ rtt:[0-9.]+/[0-9.]+ mss:\d+ cwnd:\d+ bytes_sent:0 bytes_acked:0 bytes_received:1000 `)
	var ss string
	for deadline := time.Now().Add(10 * time.Second); ; {
		ss, err = ns.Output(bin, "ss")
		if err == nil && ssWant.MatchString(ss) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tapstack ss: %v\n%s\nwant to match %s", err, ss, ssWant)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline: the 1000 bytes may still be on their way
	}
	t.Logf("tapstack ss:\n%s", ss)
	if !regexp.MustCompile(`(?m)^LISTEN +0 +4096 +\*:80 +\*:\*$`).MatchString(ss) {
		t.Errorf("tapstack ss lacks the dual-stack listener on :80")
	}
	if ss6, err := ns.Output(bin, "ss", "-6"); err != nil || strings.Contains(ss6, "ESTAB") {
		t.Errorf("tapstack ss -6: %v\n%s", err, ss6)
	}

	neigh, err := ns.Output(bin, "neigh", "-4")
	t.Logf("tapstack neigh -4:\n%s", neigh)
	if err != nil || !regexp.MustCompile(`(?m)^10\.0\.0\.1 dev tap0 lladdr [0-9a-f:]{17} (REACHABLE|STALE|DELAY|PROBE)$`).MatchString(neigh) {
		t.Errorf("tapstack neigh -4: %v\n%s", err, neigh)
	}

	metrics, err := ns.Output(bin, "metrics")
	if err != nil {
		t.Fatal(err, metrics)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return linuxDial(ctx, ns, network, addr)
	}}}
	resp, err := client.Get("http://10.0.0.2/metrics")
	if err != nil {
		t.Fatal(err)
	}
	web, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for name, text := range map[string]string{"tapstack metrics": metrics, "http://10.0.0.2/metrics": string(web)} {
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Errorf("%s: Prometheus' parser: %v", name, err)
			continue
		}
		f := fams["tapstack_tcp_conn_passive_opens_total"]
		if len(fams) < 100 || f == nil || f.Metric[0].GetCounter().GetValue() < 1 {
			t.Errorf("%s: %d families, passive opens %v", name, len(fams), f)
		}
		if f := fams["tapstack_tap_rx_frames_total"]; f == nil || len(f.Metric) != 1 || f.Metric[0].Label[0].GetValue() != "tap0" ||
			f.Metric[0].GetCounter().GetValue() < 4 {
			t.Errorf("%s: tapstack_tap_rx_frames_total %v, want tap0's frames (at least the handshake and data)", name, f)
		}
		for n, f := range fams {
			if f.GetHelp() == "" {
				t.Errorf("%s: %s has no HELP", name, n)
			}
		}
	}
	for _, line := range strings.Split(metrics, "\n") {
		if strings.Contains(line, "tcp_conn_passive_opens") || strings.Contains(line, "tapstack_tcp_connections") || strings.Contains(line, "tap_rx_frames") {
			t.Log(line)
		}
	}
}
