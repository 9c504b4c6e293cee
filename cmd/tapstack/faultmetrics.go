package main

import (
	"bufio"
	"io"
	"strconv"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
)

// faultStats are the faults one --faults decorator injected, under the
// name of the interface it sits under.
type faultStats struct {
	nic    string
	tx, rx link.FaultStats
}

// hostFaultStats returns the fault counts of the --faults decorators
// under h's interfaces, once per decorator (a trunk's VLAN interfaces
// share one).
func hostFaultStats(h *host.Host) []faultStats {
	var out []faultStats
	seen := map[*link.Faulty]bool{}
	for _, n := range h.Stack().NICs() {
		ep, ok := n.LinkEndpoint().(interface{ Device() link.Device })
		if !ok {
			continue
		}
		f, ok := ep.Device().(*link.Faulty)
		if !ok || seen[f] {
			continue
		}
		seen[f] = true
		out = append(out, faultStats{n.Name(), f.TxStats(), f.RxStats()})
	}
	return out
}

// faultFamilies are the fault counters of /metrics.
var faultFamilies = []struct {
	name, help string
	get        func(*link.FaultStats) uint64
}{
	{"lost", "frames dropped", func(s *link.FaultStats) uint64 { return s.Lost }},
	{"duplicated", "frames sent twice", func(s *link.FaultStats) uint64 { return s.Duplicated }},
	{"reordered", "frames held back behind the next one", func(s *link.FaultStats) uint64 { return s.Reordered }},
	{"corrupted", "frames with a bit flipped", func(s *link.FaultStats) uint64 { return s.Corrupted }},
	{"overflowed", "frames dropped: the delay line's queue (queue=) was full", func(s *link.FaultStats) uint64 { return s.Overflowed }},
}

// writeFaultMetrics writes what the --faults decorators did in the
// Prometheus text format: a family per kind of fault, a sample per
// interface and direction (labels nic="NAME", dir="tx" for what the host
// sends, "rx" for what it receives).
func writeFaultMetrics(w io.Writer, fs []faultStats) error {
	if len(fs) == 0 {
		return nil
	}
	bw := bufio.NewWriter(w)
	for _, f := range faultFamilies {
		name := "tapstack_faults_" + f.name + "_total"
		bw.WriteString("# HELP " + name + " --faults: " + f.help + "\n# TYPE " + name + " counter\n")
		for i := range fs {
			for _, d := range [...]struct {
				dir string
				s   *link.FaultStats
			}{{"tx", &fs[i].tx}, {"rx", &fs[i].rx}} {
				bw.WriteString(name + `{nic="` + labelValue(fs[i].nic) + `",dir="` + d.dir + `"} ` + strconv.FormatUint(f.get(d.s), 10) + "\n")
			}
		}
	}
	return bw.Flush()
}
