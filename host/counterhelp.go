package host

import "strings"

// CounterHelp returns a one-line explanation of the stack counter name
// ("tcp.rx.bad_checksum"), as shown in the HELP lines of /metrics. The
// counters most often read while debugging have a written explanation;
// any other is explained from its name: the layer, the direction or
// part of it, and the event ("IPv6 forwarding: hop limit exceeded").
func CounterHelp(name string) string {
	if s, ok := counterHelp[name]; ok {
		return s
	}
	parts := strings.Split(name, ".")
	if len(parts) == 1 {
		return "count of " + words(name)
	}
	layer, ok := helpLayers[parts[0]]
	if !ok {
		layer = parts[0]
	}
	rest := parts[1:]
	if len(rest) > 1 {
		if part, ok := helpParts[rest[0]]; ok {
			layer += " " + part
			rest = rest[1:]
		}
	}
	for i, r := range rest {
		rest[i] = words(r)
	}
	return layer + ": " + strings.Join(rest, ", ")
}

// words turns a counter name part into words: "bad_checksum" is
// "bad checksum".
func words(s string) string { return strings.ReplaceAll(s, "_", " ") }

// helpLayers names the first part of a counter name.
var helpLayers = map[string]string{
	"arp": "ARP", "icmp": "ICMP", "icmpv6": "ICMPv6", "igmp": "IGMP", "mld": "MLD",
	"ip": "IP", "ipv4": "IPv4", "ipv6": "IPv6", "link": "link layer",
	"ndp": "neighbour discovery", "tcp": "TCP", "udp": "UDP", "ping": "ping",
	"dhcp": "DHCP client", "dhcpd": "DHCP server", "dnsfwd": "DNS forwarder",
	"gateway": "gateway", "svc": "service",
}

// helpParts names the second part of a counter name.
var helpParts = map[string]string{
	"rx": "received", "tx": "sent", "fwd": "forwarding", "reasm": "reassembly",
	"frag": "reassembly", "cache": "neighbour cache", "conn": "connections",
	"acd": "address conflict detection", "dad": "duplicate address detection",
	"slaac": "address autoconfiguration", "ra": "router advertisements",
	"pmtu": "path MTU", "timer": "timer", "mem": "memory budget",
	"recovery": "loss recovery", "ecn": "ECN", "syncookies": "SYN cookies",
	"rcvbuf": "receive buffer", "forward": "forwarded", "ping": "ping",
	"udp": "UDP", "tcp": "TCP", "udp_echo": "UDP echo",
}

// counterHelp are the written explanations.
var counterHelp = map[string]string{
	"icmp.tx.echo_reply":   "ICMP echo replies sent (answers to pings)",
	"icmpv6.tx.echo_reply": "ICMPv6 echo replies sent (answers to pings)",
	// link
	"link.rx.malformed":         "frames dropped: too short for their headers",
	"link.rx.not_for_us":        "frames dropped: unicast to another MAC address",
	"link.rx.vlan_dropped":      "frames dropped: 802.1Q/802.1ad tagged with a VLAN ID on an interface without VLANs",
	"link.rx.priority_tagged":   "frames with a priority tag (VLAN ID 0) taken as untagged",
	"link.rx.not_ethernet2":     "frames dropped: IEEE 802.3 LLC (a length, not an EtherType), such as STP BPDUs",
	"link.rx.unknown_ethertype": "frames dropped: EtherType of no registered protocol",
	"link.rx.not_ip":            "packets dropped on an L3 (TUN) device: neither IPv4 nor IPv6",
	"link.rx.vlan_unknown":      "frames dropped: VLAN ID of no VLAN on the trunk (or the reserved 4095)",
	"link.rx.qinq_dropped":      "frames dropped: an 802.1ad S-tag with a VLAN ID or stacked 802.1Q tags",
	"link.rx.no_native":         "frames dropped: untagged on a trunk without a native VLAN",
	"link.rx.port_down":         "frames dropped: the VLAN endpoint is not attached to a NIC yet",
	"link.tx.too_big":           "packets not sent: larger than the MTU",
	"link.tx.device_error":      "frames the device failed to send",

	// ARP
	"arp.rx.requests":       "ARP requests received",
	"arp.rx.replies":        "ARP replies received",
	"arp.rx.malformed":      "ARP packets dropped: malformed (too short, not Ethernet/IPv4) or without an interface",
	"arp.rx.unknown_op":     "ARP packets dropped: an operation other than request or reply",
	"arp.rx.bad_address":    "ARP packets dropped: multicast or zero sender MAC, or a target or sender IP that is not unicast",
	"arp.rx.cache_full":     "ARP entries not learnt: the neighbour cache is full",
	"arp.rx.looped":         "ARP packets dropped: our own, looped back by the segment",
	"arp.rx.conflict":       "ARP packets from another host claiming one of our addresses (neither learnt nor answered; we defend the address)",
	"arp.tx.requests":       "ARP requests sent",
	"arp.tx.replies":        "ARP replies sent",
	"arp.tx.queued":         "packets queued waiting for ARP resolution",
	"arp.tx.queue_overflow": "packets dropped: the queue waiting for ARP resolution was full",
	"arp.tx.unresolved":     "packets dropped: their next hop never answered ARP",
	"arp.tx.rate_limited":   "ARP requests not sent: rate limited",
	"arp.cache.evicted":     "neighbour cache entries evicted to make room",
	"arp.cache.failed":      "neighbour cache entries that reached FAILED",
	"arp.acd.conflict":      "address conflicts detected (RFC 5227)",

	// IPv4
	"ipv4.rx.packets":             "IPv4 packets received",
	"ipv4.rx.delivered":           "IPv4 packets delivered to a transport protocol of this host",
	"ipv4.rx.too_short":           "IPv4 packets dropped: shorter than the header",
	"ipv4.rx.bad_version":         "IPv4 packets dropped: version is not 4",
	"ipv4.rx.bad_ihl":             "IPv4 packets dropped: header length below 20 bytes or beyond the packet",
	"ipv4.rx.bad_checksum":        "IPv4 packets dropped: header checksum wrong",
	"ipv4.rx.bad_total_length":    "IPv4 packets dropped: total length beyond the frame or below the header",
	"ipv4.rx.bad_options":         "IPv4 packets dropped: malformed options",
	"ipv4.rx.not_for_us":          "IPv4 packets dropped: not addressed to this host and forwarding is off",
	"ipv4.rx.martian_source":      "IPv4 packets dropped: impossible source (multicast, broadcast, loopback, ours)",
	"ipv4.rx.martian_destination": "IPv4 packets dropped: destination in 0.0.0.0/8 or 127.0.0.0/8",
	"ipv4.rx.unknown_protocol":    "IPv4 packets dropped: protocol number of no registered transport (ICMP protocol unreachable sent)",
	"ipv4.rx.no_port":             "IPv4 packets answered with ICMP port unreachable",
	"ipv4.fwd.forwarded":          "IPv4 packets forwarded",
	"ipv4.fwd.ttl_exceeded":       "IPv4 packets not forwarded: TTL reached zero (ICMP time exceeded sent)",
	"ipv4.fwd.no_route":           "IPv4 packets not forwarded: no route to the destination",
	"ipv4.tx.packets":             "IPv4 packets sent",
	"ipv4.tx.resolution_failed":   "IPv4 packets not sent: the next hop's link address could not be resolved",

	// UDP
	"udp.rx.delivered":      "UDP datagrams delivered to a socket",
	"udp.rx.malformed":      "UDP datagrams dropped: too short or length field wrong",
	"udp.rx.bad_checksum":   "UDP datagrams dropped: checksum wrong",
	"udp.rx.zero_checksum6": "UDP datagrams over IPv6 dropped: zero checksum (RFC 8200)",
	"udp.rx.no_port":        "UDP datagrams to a port with no socket (ICMP port unreachable sent for unicast ones)",
	"udp.rx.queue_full":     "UDP datagrams dropped: the socket's receive queue was full",
	"udp.tx.datagrams":      "UDP datagrams sent (counted as handed to IP: one IP could not send counts in udp.tx.errors too)",
	"udp.tx.errors":         "UDP datagrams not sent: writing to the route failed (resolution or device error)",

	// TCP
	"tcp.rx.segments":               "TCP segments received",
	"tcp.tx.segments":               "TCP segments sent",
	"tcp.tx.stale_trimmed":          "queued TCP segments whose data the peer acknowledged before they were built: trimmed or not sent",
	"tcp.rx.bad_checksum":           "TCP segments dropped: checksum wrong",
	"tcp.rx.malformed":              "TCP segments dropped: too short, bad data offset or options",
	"tcp.rx.bad_address":            "TCP segments dropped: broadcast or multicast address",
	"tcp.rx.no_endpoint":            "TCP segments to no connection or listener (answered with RST, unless one)",
	"tcp.rx.out_of_order":           "TCP segments received ahead of the next expected byte and held",
	"tcp.rx.out_of_window":          "TCP segments with a sequence number outside the receive window (answered with a rate-limited ACK)",
	"tcp.rx.paws_rejected":          "TCP segments dropped by PAWS: an old timestamp (RFC 7323)",
	"tcp.rx.rst":                    "TCP RST segments received",
	"tcp.tx.rst":                    "TCP RST segments sent",
	"tcp.tx.retransmits":            "TCP segments retransmitted",
	"tcp.tx.fast_retransmits":       "TCP fast retransmissions (three duplicate ACKs or SACK loss detection)",
	"tcp.timer.rto_expired":         "TCP retransmission timeouts",
	"tcp.tx.challenge_acks":         "TCP challenge ACKs sent to a suspicious RST or SYN (RFC 5961)",
	"tcp.tx.challenge_acks_limited": "TCP challenge ACKs not sent: the connection's rate limit",
	"tcp.tx.challenge_acks_capped":  "TCP challenge ACKs not sent: the host-wide cap",
	"tcp.tx.invalid_acks_limited":   "TCP ACKs to invalid segments not sent: rate limited",
	"tcp.tx.delayed_acks":           "TCP ACKs sent by the delayed ACK timer",
	"tcp.tx.dsack":                  "TCP duplicate SACK blocks sent (RFC 2883)",
	"tcp.conn.active_opens":         "TCP connections opened by Dial",
	"tcp.conn.passive_opens":        "TCP connections accepted by a listener",
	"tcp.conn.resets":               "TCP connections reset by the peer",
	"tcp.conn.timeouts":             "TCP connections aborted: too many retransmissions",
	"tcp.conn.keepalive_timeouts":   "TCP connections aborted: keepalive probes unanswered",
	"tcp.conn.listen_overflow":      "TCP SYNs and handshake ACKs dropped: the listener's accept queue (or, without SYN cookies, its SYN queue) was full",
	"tcp.conn.data_after_close":     "TCP connections reset: data arrived after the application closed",
	"tcp.conn.refused":              "TCP connections refused by the peer (RST to our SYN)",
	"tcp.undo.eifel":                "TCP fast recoveries undone: the timestamps showed the retransmission spurious (RFC 3522)",
	"tcp.undo.dsack":                "TCP fast recoveries undone: every retransmission came back as a duplicate (D-SACK, RFC 3708)",
	"tcp.undo.rto":                  "TCP retransmission timeouts undone: spurious, by timestamps or D-SACK",
	"tcp.undo.joined":               "TCP fast recoveries joined to the previous one's undo record: its retransmissions still awaited their D-SACKs",
	"tcp.recovery.sack":             "TCP loss recoveries driven by SACK (RFC 6675)",
	"tcp.syncookies.sent":           "TCP SYN cookies sent (the SYN queue was full)",
	"tcp.syncookies.recv":           "TCP connections established from a valid SYN cookie",
	"tcp.syncookies.failed":         "TCP ACKs with an invalid SYN cookie",
	"tcp.pmtu.updates":              "TCP MSS reductions from path MTU discovery",
	"tcp.rcvbuf.autotuned":          "TCP receive buffers grown by auto-tuning",
	"tcp.ecn.negotiated":            "TCP connections that negotiated ECN",
	"tcp.ecn.ce_received":           "TCP segments received with congestion experienced (CE)",
	"tcp.ecn.cwnd_reductions":       "TCP congestion window reductions from ECN echoes",
	"tcp.mem.pressure_entered":      "times the TCP memory budget entered pressure",
	"tcp.mem.rx_dropped_nomem":      "TCP segments dropped: the memory budget was exhausted",
	"tcp.mem.tx_waits":              "TCP writes that waited for the memory budget",
	"tcp.mem.ooo_dropped":           "TCP out-of-order segments dropped for memory",
	"tcp.mem.ooo_pruned_bytes":      "bytes of TCP out-of-order data pruned for memory",
}
