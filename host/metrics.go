package host

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/tapstack/tapstack/tcp"
)

// MetricsContentType is the media type of WriteMetrics' output, the
// Prometheus text exposition format 0.0.4.
const MetricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// MetricName returns the Prometheus name of the stack counter name:
// "tcp.rx.bad_checksum" is tapstack_tcp_rx_bad_checksum_total. Every
// character outside [a-zA-Z0-9_] becomes an underscore.
func MetricName(counter string) string {
	var b strings.Builder
	b.Grow(len("tapstack_") + len(counter) + len("_total"))
	b.WriteString("tapstack_")
	for _, r := range counter {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	b.WriteString("_total")
	return b.String()
}

// WriteMetrics writes every counter of the host's stack, zero or not, in
// the Prometheus text exposition format (MetricsContentType): a HELP line
// with the counter's explanation (CounterHelp), a TYPE counter line and the
// value, named by MetricName. It adds one gauge,
// tapstack_tcp_connections{state="..."}, the TCP connections and listeners
// by state (ss -s). The counters are the stack's: one host, one set, with
// no per-interface labels (the stack counts per layer, not per NIC).
func (h *Host) WriteMetrics(w io.Writer) error {
	bw := bufio.NewWriter(w)
	seen := make(map[string]bool)
	for _, c := range h.s.Counters().Snapshot() {
		name := MetricName(c.Name)
		for i := 2; seen[name]; i++ { // two counters differing in punctuation only
			name = strings.TrimSuffix(MetricName(c.Name), "_total") + "_" + strconv.Itoa(i) + "_total"
		}
		seen[name] = true
		writeFamily(bw, name, "counter", CounterHelp(c.Name)+" ("+c.Name+")")
		bw.WriteString(name)
		bw.WriteByte(' ')
		bw.WriteString(strconv.FormatUint(c.Value, 10))
		bw.WriteByte('\n')
	}
	const conns = "tapstack_tcp_connections"
	writeFamily(bw, conns, "gauge", "TCP connections and listeners by state")
	for _, s := range tcpStateCounts(h.tcp.Connections()) {
		bw.WriteString(conns + `{state="` + s.state + `"} ` + strconv.Itoa(s.n) + "\n")
	}
	return bw.Flush()
}

// writeFamily writes the HELP and TYPE lines of a metric family.
func writeFamily(w *bufio.Writer, name, typ, help string) {
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

type stateCount struct {
	state string
	n     int
}

// tcpStateCounts counts conns by state, every state present (zero or
// not), in the order of the TCP state diagram.
func tcpStateCounts(conns []tcp.ConnInfo) []stateCount {
	out := make([]stateCount, 0, 11)
	idx := map[string]int{}
	for s := tcp.StateClosed; s <= tcp.StateTimeWait; s++ {
		idx[s.String()] = len(out)
		out = append(out, stateCount{state: s.String()})
	}
	for _, c := range conns {
		if i, ok := idx[c.State]; ok {
			out[i].n++
		}
	}
	return out
}

// CounterVar is the host's counters as an expvar.Var (it has the String
// method expvar asks for): a JSON object of every counter by name, read at
// each call. Package host does not import expvar, so it publishes nothing
// by itself; a program publishes each of its hosts under a name of its
// choice, one name per host (expvar.Publish panics on a name used twice):
//
//	expvar.Publish("tapstack", h.CounterVar())
type CounterVar struct{ h *Host }

// CounterVar returns the host's counters as an expvar.Var.
func (h *Host) CounterVar() CounterVar { return CounterVar{h} }

// String returns the counters as a JSON object, {"arp.rx.replies": 3, ...}.
func (v CounterVar) String() string {
	m := make(map[string]uint64)
	for _, c := range v.h.s.Counters().Snapshot() {
		m[c.Name] = c.Value
	}
	b, _ := json.Marshal(m) // a map of numbers always marshals
	return string(b)
}
