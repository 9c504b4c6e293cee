package ipv4

// ident returns the identification field of a datagram we originate.
//
// Atomic datagrams (DF set, so never fragmented) get 0, which RFC 6864
// section 4.1 allows and FreeBSD does by default (net.inet.ip.rfc6864):
// their ID serves no reassembly, while a stack-wide counter in it tells
// any host we talk to how many packets we sent to everyone else between
// two of its own. That count is the oracle of the off-path TCP attacks of
// CVE-2016-5696 without any rate limit: an attacker spoofs segments for a
// victim's connection and reads from the IDs on its own connection
// whether they drew a challenge ACK (Feng et al., "Off-Path TCP Exploits
// of the Mixed IPID Assignment", CCS 2020). All our TCP segments are
// atomic. Datagrams that may be fragmented (UDP, ICMP) take the next
// value of the counter, which reassembly needs; what it reveals is only
// how many of those we send.
func (pr *Protocol) ident(df bool) uint16 {
	if df {
		return 0
	}
	return uint16(pr.nextID.Add(1))
}
