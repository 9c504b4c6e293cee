package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
)

// serveDebug serves the profiles of net/http/pprof under /debug/pprof/ and,
// with -stack tapstack, the host's counters and connections by state at
// /metrics (host.WriteMetrics), on a kernel socket at addr: a look inside
// the server during a run (curl in the server's namespace; go tool pprof
// http://addr/debug/pprof/profile?seconds=N).
func serveDebug(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if tapstackHost == nil {
			http.Error(w, "no tapstack host (-stack tapstack)", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		tapstackHost.WriteMetrics(w)
		m := tapstackHost.TCP().Memory()
		fmt.Fprintf(w, "# tcp memory (not a metric family)\n# tcp_mem in_use=%d limit=%d pressure=%d under_pressure=%v\n", m.InUse, m.Limit, m.Pressure, m.UnderPressure)
	})
	go http.Serve(l, mux)
	return nil
}
