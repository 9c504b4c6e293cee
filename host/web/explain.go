package web

import "strings"

// Explain says in a line what the counter called name counts. It knows
// the counters people ask about most by name and reads the others from
// their parts (layer.direction.reason): "tcp.rx.bad_checksum" is "TCP,
// segments received: bad checksum". Options.Explain replaces it, for a
// program with a table of its own.
func Explain(name string) string {
	if s, ok := explained[name]; ok {
		return s
	}
	parts := strings.Split(name, ".")
	if len(parts) < 2 {
		return words(name)
	}
	var b strings.Builder
	if l, ok := layers[parts[0]]; ok {
		b.WriteString(l)
	} else {
		b.WriteString(parts[0])
	}
	rest := parts[1:]
	if d, ok := directions[rest[0]]; ok && len(rest) > 1 {
		b.WriteString(", " + d)
		rest = rest[1:]
	}
	b.WriteString(": ")
	for i, p := range rest {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(words(p))
	}
	return b.String()
}

func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

var layers = map[string]string{
	"link": "Ethernet/802.1Q", "arp": "ARP", "ipv4": "IPv4", "ipv6": "IPv6",
	"icmp": "ICMP", "icmpv6": "ICMPv6", "ndp": "Neighbour Discovery", "igmp": "IGMP",
	"mld": "MLD", "tcp": "TCP", "udp": "UDP", "dhcp": "DHCP client", "dhcpd": "DHCP server",
	"dnsfwd": "DNS forwarder", "gateway": "gateway", "svc": "services", "channel": "channel link",
}

var directions = map[string]string{
	"rx": "received", "tx": "sent", "fwd": "forwarding", "frag": "fragmentation",
	"reasm": "reassembly", "conn": "connections", "timer": "timers", "cache": "cache",
	"mem": "memory", "pmtu": "path MTU", "ecn": "ECN", "syncookies": "SYN cookies",
	"recovery": "loss recovery", "slaac": "SLAAC", "ra": "router advertisements",
}

// explained are the counters worth a sentence of their own.
var explained = map[string]string{
	"tcp.rx.segments":             "TCP segments received (each TSO/GRO super-segment counts once)",
	"tcp.tx.segments":             "TCP segments sent (each TSO super-segment counts once)",
	"tcp.tx.retransmits":          "TCP segments sent again: timeouts, fast retransmits and SACK recovery",
	"tcp.tx.fast_retransmits":     "TCP segments retransmitted after three duplicate ACKs or SACK (RFC 5681, 6675)",
	"tcp.timer.rto_expired":       "TCP retransmission timeouts (RFC 6298): the peer acknowledged nothing for an RTO",
	"tcp.rx.bad_checksum":         "TCP segments dropped: the checksum was wrong",
	"tcp.rx.malformed":            "TCP segments dropped: header too short or data offset wrong",
	"tcp.rx.out_of_order":         "TCP segments that arrived ahead of a gap and were held for reassembly",
	"tcp.rx.no_endpoint":          "TCP segments for a port nobody listens on (answered with RST)",
	"tcp.rx.out_of_window":        "TCP segments outside the receive window (RFC 9293 3.10.7.4), answered with an ACK",
	"tcp.rx.rst":                  "TCP segments received with RST",
	"tcp.tx.rst":                  "TCP segments sent with RST",
	"tcp.tx.challenge_acks":       "challenge ACKs sent for a suspicious RST or SYN (RFC 5961)",
	"tcp.rx.paws_rejected":        "TCP segments dropped by PAWS: an old timestamp (RFC 7323 5)",
	"tcp.conn.active_opens":       "TCP connections we opened (Dial)",
	"tcp.conn.passive_opens":      "TCP connections accepted from a listener",
	"tcp.conn.resets":             "TCP connections ended by a RST",
	"tcp.conn.timeouts":           "TCP connections given up after too many retransmissions",
	"tcp.conn.listen_overflow":    "SYNs dropped because a listener's accept queue was full",
	"tcp.recovery.sack":           "SACK-based loss recovery episodes (RFC 6675)",
	"tcp.tx.delayed_acks":         "ACKs sent by the delayed-ACK timer",
	"tcp.rcvbuf.autotuned":        "times a receive buffer grew by auto-tuning",
	"tcp.pmtu.updates":            "MSS reductions from ICMP too-big / fragmentation-needed messages",
	"ipv4.rx.bad_checksum":        "IPv4 packets dropped: the header checksum was wrong",
	"ipv4.fwd.ttl_exceeded":       "IPv4 packets to forward whose TTL ran out here (answered with ICMP time exceeded)",
	"ipv4.rx.not_for_us":          "IPv4 packets for another host, dropped because forwarding is off",
	"ipv4.fwd.no_route":           "IPv4 packets that could not be forwarded: no route (ICMP unreachable)",
	"ipv4.fwd.forwarded":          "IPv4 packets forwarded to another interface or gateway",
	"arp.rx.requests":             "ARP requests received",
	"arp.rx.replies":              "ARP replies received",
	"arp.tx.requests":             "ARP requests sent to resolve a next hop",
	"arp.tx.replies":              "ARP replies sent for our addresses (or published ones)",
	"arp.rx.malformed":            "ARP packets dropped: too short or not Ethernet/IPv4",
	"link.rx.vlan_unknown":        "802.1Q frames for a VLAN without an interface here",
	"link.rx.not_for_us":          "frames for another MAC address (not broadcast, not a group we joined)",
	"link.rx.malformed":           "frames dropped: shorter than an Ethernet header",
	"udp.rx.no_port":              "UDP datagrams for a port nobody listens on (ICMP port unreachable)",
	"udp.rx.bad_checksum":         "UDP datagrams dropped: the checksum was wrong",
	"udp.rx.queue_full":           "UDP datagrams dropped: the socket's receive queue was full",
	"icmp.rx.echo_request":        "ICMP echo requests (pings) received",
	"icmp.tx.echo_reply":          "ICMP echo replies sent",
	"ndp.rx.bad_hop_limit":        "Neighbour Discovery messages dropped: hop limit not 255 (RFC 4861 7.1.1)",
	"ipv6.fwd.hop_limit_exceeded": "IPv6 packets to forward whose hop limit ran out here (ICMPv6 time exceeded)",
}
