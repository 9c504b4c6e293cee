package host

import (
	"bufio"
	"io"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/ndp"
)

// WriteNeigh writes the neighbour tables in the layout of `ip neigh`
// (iproute2, without its trailing blank): the ARP cache first, then the
// NDP cache, one entry a line with its NUD state,
//
//	10.0.0.1 dev tap0 lladdr 02:00:00:00:00:01 REACHABLE
//	10.0.0.9 dev tap0 INCOMPLETE
//	fe80::1 dev tap0 lladdr 02:00:00:00:00:01 router STALE
//
// v4 and v6 pick the families (`ip -4 neigh`, `ip -6 neigh`). Published
// ARP entries (proxy ARP) are left out, as ip leaves out its proxy
// entries unless asked with `ip neigh show proxy`; `arp -n` shows them.
func (h *Host) WriteNeigh(w io.Writer, v4, v6 bool) error {
	bw := bufio.NewWriter(w)
	if v4 {
		for _, e := range h.arp.Entries() {
			if e.Flags&arp.FlagPublished != 0 {
				continue
			}
			bw.WriteString(e.Addr.String() + " dev " + e.NIC)
			if e.Flags&arp.FlagComplete != 0 {
				bw.WriteString(" lladdr " + e.MAC.String())
			}
			bw.WriteString(" " + e.State.String() + "\n")
		}
	}
	if v6 {
		ndp.FormatTable(bw, h.ndp.Entries())
	}
	return bw.Flush()
}
