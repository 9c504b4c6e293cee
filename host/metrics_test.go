package host_test

import (
	"bytes"
	"encoding/json"
	"expvar"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/tcp"
)

// connectedHosts returns two hosts on a pipe, 10.0.0.2 listening on :80
// with one established connection from 10.0.0.1, and that connection's
// two ends.
func connectedHosts(t *testing.T) (server, client *host.Host, sc, cc net.Conn) {
	t.Helper()
	a, b := link.Pipe(1500)
	server, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: a, Addr: netip.MustParsePrefix("10.0.0.2/24")}}, NoSLAAC: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	client, err = host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: b, Addr: netip.MustParsePrefix("10.0.0.1/24")}}, NoSLAAC: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	l, err := server.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cc, err = client.Dial("tcp", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	if sc, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	if _, err := cc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := sc.Read(buf); err != nil {
		t.Fatal(err)
	}
	return server, client, sc, cc
}

// Prometheus' own parser (a test-only oracle) reads /metrics: every
// counter of the stack is a family with HELP and TYPE counter, named by
// Prometheus' rules, with the counter's value.
func TestMetricsParseWithPrometheusTextParser(t *testing.T) {
	server, _, _, _ := connectedHosts(t)
	before := server.Stack().Counters().Snapshot()
	var buf bytes.Buffer
	if err := server.WriteMetrics(&buf); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("Prometheus' text parser: %v\n%s", err, buf.String())
	}
	snap := before
	if len(snap) < 100 {
		t.Fatalf("only %d counters: the host's stack should register every layer's", len(snap))
	}
	for _, c := range snap {
		name := host.MetricName(c.Name)
		f, ok := fams[name]
		if !ok {
			t.Errorf("counter %s: no family %s", c.Name, name)
			continue
		}
		if !model.LegacyValidation.IsValidMetricName(name) || !strings.HasPrefix(name, "tapstack_") {
			t.Errorf("%s: not a valid tapstack_ metric name", name)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s: no HELP", name)
		}
		if f.GetType() != dto.MetricType_COUNTER {
			t.Errorf("%s: type %v, want counter", name, f.GetType())
		}
		if len(f.Metric) != 1 {
			t.Errorf("%s: %d samples, want 1", name, len(f.Metric))
			continue
		}
		// Counters only grow (the host still sends MLD reports and the
		// like): the value parsed is between the ones read before and after.
		if got, now := f.Metric[0].GetCounter().GetValue(), float64(server.Stack().Counters().Value(c.Name)); got > now || got < float64(c.Value) {
			t.Errorf("%s = %v, counter went from %d to %v", name, got, c.Value, now)
		}
	}
	if v := fams["tapstack_tcp_rx_segments_total"].Metric[0].GetCounter().GetValue(); v == 0 {
		t.Error("tapstack_tcp_rx_segments_total is 0 after a connection")
	}
	g, ok := fams["tapstack_tcp_connections"]
	if !ok || g.GetType() != dto.MetricType_GAUGE {
		t.Fatalf("tapstack_tcp_connections: missing or not a gauge: %v", g)
	}
	states := map[string]float64{}
	for _, m := range g.Metric {
		states[m.Label[0].GetValue()] = m.GetGauge().GetValue()
	}
	if states["LISTEN"] != 1 || states["ESTABLISHED"] != 1 {
		t.Errorf("tapstack_tcp_connections by state = %v, want LISTEN 1 and ESTABLISHED 1", states)
	}
}

// TestMetricNameRules checks the Prometheus names: prefix, dots and any
// other character not allowed become underscores, _total for counters.
func TestMetricNameRules(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"tcp.rx.bad_checksum", "tapstack_tcp_rx_bad_checksum_total"},
		{"link.rx.not_ethernet2", "tapstack_link_rx_not_ethernet2_total"},
		{"svc.udp-echo.x", "tapstack_svc_udp_echo_x_total"},
		{"dns.rx.é", "tapstack_dns_rx___total"},
	} {
		if got := host.MetricName(tt.in); got != tt.want {
			t.Errorf("MetricName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Every counter of a host has an explanation that says more than its
// name's last part, and the written ones are for counters that exist.
func TestCounterHelp(t *testing.T) {
	server, _, _, _ := connectedHosts(t)
	for _, c := range server.Stack().Counters().Snapshot() {
		h := host.CounterHelp(c.Name)
		parts := strings.Split(c.Name, ".")
		if h == "" || h == parts[len(parts)-1] || strings.Contains(h, "\n") {
			t.Errorf("CounterHelp(%q) = %q", c.Name, h)
		}
	}
	if got, want := host.CounterHelp("ipv6.fwd.hop_limit_exceeded"), "IPv6 forwarding: hop limit exceeded"; got != want {
		t.Errorf("derived help = %q, want %q", got, want)
	}
}

// runs counts TestCounterVarTwoHosts' runs.
var runs int

// Two hosts in one process publish their counters under two expvar names;
// each Var reads its own host's counters.
func TestCounterVarTwoHosts(t *testing.T) {
	server, client, _, _ := connectedHosts(t)
	// expvar names are for the process's life: unique ones per run (-count).
	runs++
	sName, cName := fmt.Sprintf("tapstack-test-server-%d", runs), fmt.Sprintf("tapstack-test-client-%d", runs)
	expvar.Publish(sName, server.CounterVar())
	expvar.Publish(cName, client.CounterVar())
	for name, h := range map[string]*host.Host{sName: server, cName: client} {
		var m map[string]uint64
		if err := json.Unmarshal([]byte(expvar.Get(name).String()), &m); err != nil {
			t.Fatal(err)
		}
		if m["tcp.conn.passive_opens"] != h.Stack().Counters().Value("tcp.conn.passive_opens") {
			t.Errorf("%s: passive opens %d, host has %d", name, m["tcp.conn.passive_opens"], h.Stack().Counters().Value("tcp.conn.passive_opens"))
		}
	}
	var s, c map[string]uint64
	json.Unmarshal([]byte(server.CounterVar().String()), &s)
	json.Unmarshal([]byte(client.CounterVar().String()), &c)
	if s["tcp.conn.passive_opens"] != 1 || c["tcp.conn.active_opens"] != 1 || s["tcp.conn.active_opens"] != 0 {
		t.Errorf("server %d passive %d active, client %d active: the hosts' counters mixed",
			s["tcp.conn.passive_opens"], s["tcp.conn.active_opens"], c["tcp.conn.active_opens"])
	}
}

// A program publishes a host's counters for expvar (and /debug/vars).
func ExampleHost_CounterVar() {
	wire, _ := link.Pipe(1500)
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Device: wire, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	var v expvar.Var = h.CounterVar()
	// A program publishes it once, under a name of its own:
	//	expvar.Publish("tapstack", v)
	var m map[string]uint64
	json.Unmarshal([]byte(v.String()), &m)
	fmt.Println(m["tcp.rx.bad_checksum"])
	// Output: 0
}

// A host's counters in the Prometheus text format.
func ExampleHost_WriteMetrics() {
	wire, _ := link.Pipe(1500)
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Device: wire, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	var b strings.Builder
	h.WriteMetrics(&b)
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.Contains(line, "tapstack_tcp_rx_bad_checksum_total") {
			fmt.Println(line)
		}
	}
	// Output:
	// # HELP tapstack_tcp_rx_bad_checksum_total TCP segments dropped: checksum wrong (tcp.rx.bad_checksum)
	// # TYPE tapstack_tcp_rx_bad_checksum_total counter
	// tapstack_tcp_rx_bad_checksum_total 0
}

// WriteSS prints a listener and both ends of a connection like ss -tanoi:
// the header, the rows, a timer when one is pending, and a detail line
// under each connection.
func TestWriteSSLikeSS(t *testing.T) {
	server, client, _, cc := connectedHosts(t)
	var b strings.Builder
	if err := server.WriteSS(&b, true, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	wantRe := []string{
		`^State +Recv-Q +Send-Q +Local Address:Port +Peer Address:Port$`,
		`^LISTEN +0 +4096 +\*:80 +\*:\*$`,
		`^ESTAB +0 +0 +10\.0\.0\.2:80 +` + regexp.QuoteMeta(cc.LocalAddr().String()) + `$`,
		`^\t ts sack cubic wscale:\d+,\d+ rto:\d+ rtt:[0-9.]+/[0-9.]+ mss:\d+ cwnd:\d+ bytes_sent:0 bytes_acked:0 bytes_received:5 snd_wnd:\d+ rcv_wnd:\d+ minrtt:[0-9.]+$`,
	}
	if len(lines) != len(wantRe) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(wantRe), out)
	}
	for i, re := range wantRe {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %q\n%s", i, lines[i], re, out)
		}
	}
	// -6 shows the dual-stack listener, not the IPv4 connection.
	b.Reset()
	server.WriteSS(&b, false, true)
	if strings.Contains(b.String(), "10.0.0.2") || !strings.Contains(b.String(), "*:80") {
		t.Errorf("-6:\n%s", b.String())
	}
	// Keepalive on and nothing in flight: the keepalive timer is the
	// pending one (polled: the server's ACK of "hello" may still be on
	// its way).
	if err := cc.(*tcp.Conn).SetKeepAlive(true); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`ESTAB +0 +0 +10\.0\.0\.1:\d+ +10\.0\.0\.2:80 +timer:\(keepalive,\d+(sec|min)[0-9a-z]*,0\)\n\t .*bytes_sent:5 bytes_acked:5 `)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.Reset()
		client.WriteSS(&b, true, true)
		if re.MatchString(b.String()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client with keepalive on:\n%s", b.String())
		}
		runtime.Gosched()
	}
}

// A host's TCP table in the layout of ss -tanoi.
func ExampleHost_WriteSS() {
	wire, _ := link.Pipe(1500)
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Device: wire, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	l, err := h.Listen("tcp4", "10.0.0.2:80")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	h.WriteSS(os.Stdout, true, true)
	// Output:
	// State  Recv-Q Send-Q Local Address:Port Peer Address:Port
	// LISTEN      0   4096        10.0.0.2:80 0.0.0.0:*
}

// The explanation of a counter, and its Prometheus name.
func ExampleCounterHelp() {
	fmt.Println(host.MetricName("tcp.rx.out_of_window"))
	fmt.Println(host.CounterHelp("tcp.rx.out_of_window"))
	fmt.Println(host.CounterHelp("ipv6.fwd.hop_limit_exceeded"))
	// Output:
	// tapstack_tcp_rx_out_of_window_total
	// TCP segments with a sequence number outside the receive window (answered with a rate-limited ACK)
	// IPv6 forwarding: hop limit exceeded
}
