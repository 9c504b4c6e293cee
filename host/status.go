package host

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tapstack/tapstack/ndp"
)

// WriteStatus writes a plain-text report of the host in the spirit of
// `ip addr`, `ip route`, `ip neigh` and `ss -t`: interfaces with MAC, MTU
// and addresses, routes, the DHCP lease (address, server, router, DNS,
// obtained, renew, rebind and expiry times) and DNS servers, the ARP cache, TCP connections with their states,
// UDP endpoints, and the counters (the non-zero ones, or all of them when all is set).
// It is the page for the host's operator (tapstack status).
func (h *Host) WriteStatus(w io.Writer, all bool) error { return h.writeStatus(w, all, false) }

// WritePublicStatus writes the status page for readers on the network: the
// same sections, but every TCP and UDP peer address and port is shown as
// "*" and the counters are left out. A connection's address/port pair and
// the counters of the packets a guess provokes (challenge ACKs, RSTs, every
// transmitted packet) are exactly what an off-path attacker needs to reset
// or inject into a connection (CVE-2016-5696); the local addresses, ports,
// states and queues stay, so a reader still sees what the host serves.
func (h *Host) WritePublicStatus(w io.Writer) error { return h.writeStatus(w, false, true) }

func (h *Host) writeStatus(w io.Writer, all, public bool) error {
	var b strings.Builder
	b.WriteString("# interfaces\n")
	for _, n := range h.s.NICs() {
		fmt.Fprintf(&b, "%d: %s: mtu %d\n    link/ether %s\n", n.ID(), n.Name(), n.MTU(), n.LinkAddress())
		for _, a := range n.Addresses() {
			switch {
			case a.Addr().Is4():
				fmt.Fprintf(&b, "    inet %s\n", a)
			case a.Addr().IsLinkLocalUnicast():
				fmt.Fprintf(&b, "    inet6 %s scope link\n", a)
			default:
				fmt.Fprintf(&b, "    inet6 %s scope global\n", a)
			}
		}
	}

	onOff := map[bool]string{false: "off", true: "on"}
	fmt.Fprintf(&b, "\n# routes (forwarding %s)\n", onOff[h.forwarding])
	h.WriteRoutes(&b)
	fmt.Fprintf(&b, "\n# ipv6 routes (forwarding %s)\n", onOff[h.forwarding6])
	h.WriteRoutes6(&b)

	h.writeDHCP(&b)

	b.WriteString("\n# arp\n")
	h.WriteARP(&b)

	b.WriteString("\n# ndp\n")
	ndp.FormatTable(&b, h.ndp.Entries())

	b.WriteString("\n# tcp\n")
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "State\tRecv-Q\tSend-Q\tLocal\tPeer")
	for _, c := range h.tcp.Connections() {
		peer := "*:*"
		if public {
			peer = "*"
		} else if c.Remote.IsValid() && c.Remote.Port() != 0 {
			peer = c.Remote.String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", c.State, c.RecvQueue, c.SendQueue, c.Local, peer)
	}
	tw.Flush()

	b.WriteString("\n# udp\n")
	tw = tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "Recv-Q\tLocal\tPeer")
	for _, e := range h.udp.Endpoints() {
		peer := "*:*"
		if public {
			peer = "*"
		} else if e.Remote.IsValid() && e.Remote.Port() != 0 {
			peer = e.Remote.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", e.Queued, e.Local, peer)
	}
	tw.Flush()

	if public {
		b.WriteString("\n# counters: not shown on the network (tapstack status on the host shows them)\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	if all {
		b.WriteString("\n# counters (all)\n")
	} else {
		b.WriteString("\n# counters (non-zero)\n")
	}
	tw = tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, c := range h.s.Counters().Snapshot() {
		if all || c.Value != 0 {
			fmt.Fprintf(tw, "%s\t%d\n", c.Name, c.Value)
		}
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}
