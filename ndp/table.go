package ndp

import (
	"bufio"
	"io"
)

// FormatTable writes entries in the layout of `ip -6 neigh show`, one line
// each:
//
//	fe80::1 dev eth0 lladdr 02:00:00:00:00:01 router REACHABLE
//	fd00::9 dev eth0 INCOMPLETE
//
// Entries without a known MAC (INCOMPLETE, FAILED) print no lladdr, as
// ip does.
func FormatTable(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriter(w)
	for _, e := range entries {
		bw.WriteString(e.Addr.String())
		bw.WriteString(" dev ")
		bw.WriteString(e.NIC)
		if e.State.usable() {
			bw.WriteString(" lladdr ")
			bw.WriteString(e.MAC.String())
		}
		if e.Router {
			bw.WriteString(" router")
		}
		bw.WriteString(" ")
		bw.WriteString(e.State.String())
		bw.WriteString("\n")
	}
	return bw.Flush()
}
