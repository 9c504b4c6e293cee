// Package server is tapstack's DHCP server (RFC 2131, options from RFC
// 2132) for the guests of a gateway: it leases addresses from one range of
// one subnet and hands out the router, the DNS servers, the lease time and
// optionally a domain name.
//
// The protocol lives in Core, a sans-IO state machine: Core.Handle(now,
// message) returns the reply to send and where to send it, or the reason
// the message was dropped. Server runs a Core over a stack's UDP port 67
// on one NIC:
//
//	srv, err := server.New(s, nic, server.Config{
//		Subnet:     netip.MustParsePrefix("10.0.2.0/24"),
//		Router:     netip.MustParseAddr("10.0.2.2"),
//		DNS:        []netip.Addr{netip.MustParseAddr("10.0.2.3")},
//		RangeStart: netip.MustParseAddr("10.0.2.15"),
//	})
//	err = srv.Start()
//	defer srv.Close()
//	server.FormatLeases(os.Stdout, srv.Leases(), time.Now())
//
// Leases are filed under the client identifier (option 61) or, without
// one, the hardware address; a client gets the same address back on every
// renewal and, while nobody else took it, after its lease ran out. The
// lease table has one slot per address of the range and nothing else, so
// it is bounded by the pool: a DISCOVER reserves an address for
// OfferHold (30 s), after which an unanswered offer is reclaimed; when
// every address is leased or offered, further DISCOVERs are dropped and
// counted. A token bucket per client (bounded table) and a global one
// limit how much work a flood can cause.
//
// Replies follow RFC 2131 4.1: a NAK is broadcast; a reply to a client
// with an address (ciaddr) goes to that address; otherwise, with the
// BROADCAST flag set, to 255.255.255.255; otherwise unicast to yiaddr at
// the client's hardware address, without ARP (the client cannot answer ARP
// for an address it does not have yet). Every reply goes out of the
// server's NIC with the hardware address taken from the request, so no
// ARP happens at all. Relayed requests (giaddr set) are not served.
//
// The server is authoritative for its subnet, like dnsmasq with
// --dhcp-authoritative: a client in INIT-REBOOT or RENEWING that asks
// for an address of the range nobody else holds gets it, even if the
// server has no record of it (after a gateway restart), instead of the
// silence RFC 2131 4.3.2 prescribes for a non-authoritative server; an
// address outside the range or held by someone else is NAKed.
//
// Every message not answered is counted by reason as "dhcpd.rx.<reason>"
// (see the Drop constants).
package server
