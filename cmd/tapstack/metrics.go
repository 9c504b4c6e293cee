package main

import (
	"flag"
	"io"
	"net/http"

	"github.com/tapstack/tapstack/host"
)

// The observability routes of the control socket (controlHandler adds
// them) and of :80, and the commands that read them: tapstack ss and
// tapstack metrics.

// addObservability registers on the control socket's mux:
//
//	GET /ss[?family=4|6]  TCP listeners and connections (ss -tanoi)
//	GET /metrics          the counters, Prometheus text format, and the
//	                      TAPs' frame counts labelled by device
func addObservability(mux *http.ServeMux, h *host.Host) {
	mux.HandleFunc("GET /ss", func(w http.ResponseWriter, r *http.Request) {
		v4, v6 := families(r)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		h.WriteSS(w, v4, v6)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		writeMetrics(w, h)
	})
}

// writeMetrics answers with h's counters, its TAPs' (tapmetrics.go) and
// what --faults injected (faultmetrics.go).
func writeMetrics(w http.ResponseWriter, h *host.Host) {
	w.Header().Set("Content-Type", host.MetricsContentType)
	if h.WriteMetrics(w) == nil && writeTapMetrics(w, hostTapStats(h)) == nil {
		writeFaultMetrics(w, hostFaultStats(h))
	}
}

// publicMetrics serves /metrics on :80 when the status page there is the
// operator's (--status full); the counters are left out of the public
// page (host.WritePublicStatus says why), so they are not served here
// either.
func publicMetrics(h *host.Host, mode statusMode) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if mode != statusFull {
			http.Error(w, "no metrics here (they need tapstack up --status full): run tapstack metrics on the host", http.StatusNotFound)
			return
		}
		writeMetrics(w, h)
	}
}

// runSS is `tapstack ss [--tap NAME] [-4|-6]`: the TCP table of a running
// host, like `ss -tanoi`.
func runSS(args []string, stdout io.Writer) error {
	return runFamilyTable("ss", args, stdout)
}

// runMetrics is `tapstack metrics [--tap NAME]`: the counters of a
// running host in the Prometheus text format.
func runMetrics(args []string, stdout io.Writer) error {
	addr, err := parseQuery("metrics", args, flag.NewFlagSet("metrics", flag.ContinueOnError))
	if err != nil {
		return err
	}
	out, err := controlDo(addr, "GET", "/metrics")
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}

const ssHelp = `Usage: tapstack ss [--tap NAME] [-4|-6]

Prints the TCP listeners and connections of the running host in the layout
of ss -tanoi: State, Recv-Q, Send-Q (a listener's: its backlog), local and
peer address, the pending timer (timer:(on|persist|keepalive|timewait,LEFT,COUNT)),
and under each connection its details: ts sack ecn when negotiated, the
congestion control, wscale, rto and rtt (smoothed/deviation) in ms, mss,
cwnd and ssthresh in segments, bytes sent, acked and received (they wrap
at 4 GiB), send and receive windows, bbrlite's model (bbr:(bw:BITS/S,
mrtt:MS,pacing_gain:G)), the pacing rate in bits per second, the least RTT
(minrtt, ms), unacked segments and the RTO backoff.
-4 or -6 prints one family. --tap picks the host when several run.
`

const metricsHelp = `Usage: tapstack metrics [--tap NAME]

Prints every counter of the running host in the Prometheus text format
(tapstack_<counter>_total, with a HELP line explaining it), the TCP
connections by state (tapstack_tcp_connections) and each TAP's frame
counts (tapstack_tap_*_total{tap="NAME"}). With --status full the
host also serves them at http://HOST/metrics. --tap picks the host when
several run.
`
