package main

import (
	"net/netip"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// The UDP echo service answers a datagram with itself (RFC 862), which
// makes it a reflector: a datagram spoofed from one echo service to
// another (source port 7, destination port 7) bounces between them
// forever, and one sent to a broadcast address is answered by every host
// on the segment (the "fraggle" attack, CERT CA-1996-01). Like xinetd,
// which refuses source ports below 1024 in its built-in datagram
// services, and FreeBSD's inetd (check_loop), it does not answer:
//
//   - datagrams from a source port below 1024, the ports of well-known
//     services (echo 7, discard 9, daytime 13, qotd 17, chargen 19, time
//     37, DNS 53, NTP 123, SNMP 161...), any of which may answer an echo,
//     and port 0, which cannot be answered (svc.udp_echo.from_service_port);
//   - datagrams sent to a broadcast address or a multicast group, which
//     many hosts received (svc.udp_echo.to_group);
//   - datagrams from a source that is not one host: a multicast,
//     broadcast or unspecified address (svc.udp_echo.from_group).

// udpEchoConn is what the UDP echo service needs of its endpoint
// (*udp.Conn).
type udpEchoConn interface {
	ReadMsg(b []byte) (int, udp.MsgInfo, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// udpRefusal is why the echo service does not answer a datagram.
type udpRefusal int

const (
	udpAnswer udpRefusal = iota
	udpFromServicePort
	udpToGroup
	udpFromGroup
)

// refuseEcho applies the rules above to a received datagram.
func refuseEcho(m udp.MsgInfo) udpRefusal {
	a := m.From.Addr()
	switch {
	case m.Group:
		return udpToGroup
	case !a.IsValid() || a.IsMulticast() || a.IsUnspecified() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return udpFromGroup
	case m.From.Port() < 1024:
		return udpFromServicePort
	}
	return udpAnswer
}

// serveUDPEcho answers every datagram with itself, except those refuseEcho
// refuses, which it counts in cs, until pc is closed.
func serveUDPEcho(pc udpEchoConn, cs *stack.Counters) {
	refused := [...]*stack.Counter{
		udpFromServicePort: cs.Get("svc.udp_echo.from_service_port"),
		udpToGroup:         cs.Get("svc.udp_echo.to_group"),
		udpFromGroup:       cs.Get("svc.udp_echo.from_group"),
	}
	buf := make([]byte, 65536)
	for {
		n, m, err := pc.ReadMsg(buf)
		if err != nil {
			return
		}
		if why := refuseEcho(m); why != udpAnswer {
			refused[why].Inc()
			continue
		}
		pc.WriteToUDPAddrPort(buf[:n], m.From)
	}
}
