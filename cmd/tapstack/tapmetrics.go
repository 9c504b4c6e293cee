package main

import (
	"bufio"
	"io"
	"strconv"
	"strings"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/tap"
)

// tapStats are one device's frame counts under its name.
type tapStats struct {
	name  string
	stats tap.Stats
}

// hostTapStats returns the statistics of the TAP and TUN devices under
// h's interfaces, once per device (a trunk's VLAN interfaces share one).
// A device behind a decorator (--pcap, --faults) is not found.
func hostTapStats(h *host.Host) []tapStats {
	var out []tapStats
	seen := map[*tap.Device]bool{}
	for _, n := range h.Stack().NICs() {
		ep, ok := n.LinkEndpoint().(interface{ Device() link.Device })
		if !ok {
			continue
		}
		d, ok := ep.Device().(*tap.Device)
		if !ok || seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, tapStats{d.Name(), d.Stats()})
	}
	return out
}

// tapFamilies are the per-device counters of /metrics.
var tapFamilies = []struct {
	name, help string
	get        func(*tap.Stats) uint64
}{
	{"rx_frames", "frames read from the device", func(s *tap.Stats) uint64 { return s.RxFrames }},
	{"rx_bytes", "bytes read from the device", func(s *tap.Stats) uint64 { return s.RxBytes }},
	{"rx_errors", "failed reads", func(s *tap.Stats) uint64 { return s.RxErrors }},
	{"rx_too_long", "frames dropped: longer than the MTU allows", func(s *tap.Stats) uint64 { return s.RxTooLong }},
	{"tx_frames", "frames written to the device", func(s *tap.Stats) uint64 { return s.TxFrames }},
	{"tx_bytes", "bytes written to the device", func(s *tap.Stats) uint64 { return s.TxBytes }},
	{"tx_errors", "failed writes", func(s *tap.Stats) uint64 { return s.TxErrors }},
	{"rx_gso", "TCP super-segments received (offloads)", func(s *tap.Stats) uint64 { return s.RxGSO }},
	{"rx_checksum_ok", "frames whose checksum the kernel vouched for", func(s *tap.Stats) uint64 { return s.RxChecksumOK }},
	{"rx_checksum_partial", "frames received with only the pseudo-header sum (NEEDS_CSUM)", func(s *tap.Stats) uint64 { return s.RxChecksumPartial }},
	{"rx_bad_virtio_net", "frames dropped: a GSO type not asked for", func(s *tap.Stats) uint64 { return s.RxBadVirtioNet }},
	{"tx_gso", "frames written for the kernel to segment", func(s *tap.Stats) uint64 { return s.TxGSO }},
	{"tx_checksum_partial", "frames written for the kernel to checksum", func(s *tap.Stats) uint64 { return s.TxChecksumPartial }},
}

// writeTapMetrics writes the devices' counters in the Prometheus text
// format, one family per counter with a sample per device labelled
// tap="NAME", and the frames read per queue (labels tap and queue).
func writeTapMetrics(w io.Writer, devs []tapStats) error {
	if len(devs) == 0 {
		return nil
	}
	bw := bufio.NewWriter(w)
	for _, f := range tapFamilies {
		name := "tapstack_tap_" + f.name + "_total"
		bw.WriteString("# HELP " + name + " TAP/TUN device: " + f.help + "\n# TYPE " + name + " counter\n")
		for i := range devs {
			bw.WriteString(name + `{tap="` + labelValue(devs[i].name) + `"} ` + strconv.FormatUint(f.get(&devs[i].stats), 10) + "\n")
		}
	}
	const q = "tapstack_tap_rx_queue_frames_total"
	bw.WriteString("# HELP " + q + " TAP/TUN device: frames read on each queue\n# TYPE " + q + " counter\n")
	for _, d := range devs {
		for i, n := range d.stats.RxQueueFrames {
			bw.WriteString(q + `{tap="` + labelValue(d.name) + `",queue="` + strconv.Itoa(i) + `"} ` + strconv.FormatUint(n, 10) + "\n")
		}
	}
	return bw.Flush()
}

// labelValue escapes a Prometheus label value.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
