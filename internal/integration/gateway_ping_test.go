package integration

import (
	"strings"
	"testing"
)

// Issue 16: "every ... ping a guest starts, to any destination, is
// terminated by tapstack and relayed through the host's own sockets". The
// gateway's namespace allows unprivileged ICMP sockets
// (net.ipv4.ping_group_range, set in the test's namespace only), and the
// guest's pings reach the web namespace as the gateway's own echoes: every
// echo answered (the first too), each one seen by the web namespace's
// kernel (Icmp InEchos), so the RTT is the real one. A destination the
// gateway has no route to answers destination unreachable; one that never
// answers gets no reply.
func TestGatewayPingRelay(t *testing.T) {
	needTools(t, "ip", "sh", "ping")
	g := newGWTopo(t)
	if out, err := g.host.Output("sh", "-c", "echo 0 2147483647 > /proc/sys/net/ipv4/ping_group_range"); err != nil {
		t.Fatalf("ping_group_range: %v\n%s", err, out)
	}
	startTapstack(t, g.host, "tapstack: gateway on tap0", "gateway", "--tap", "tap0", "--bridge", "br0")

	before := snmpCounter(t, g.web, "Icmp", "InEchos")
	out, err := g.guest.Output("ping", "-c", "3", "-i", "0.3", "-W", "5", gwWeb)
	t.Logf("ping %s:\n%s", gwWeb, out)
	if err != nil || !strings.Contains(out, "3 received, 0% packet loss") {
		t.Errorf("ping %s through the gateway: %v, want 3 of 3 answered", gwWeb, err)
	}
	if n := snmpCounter(t, g.web, "Icmp", "InEchos") - before; n != 3 {
		t.Errorf("the web namespace saw %d echo requests, want 3 (the gateway answered itself?)", n)
	}

	// No route from the gateway's namespace: destination unreachable
	// from the router.
	out, err = g.guest.Output("ping", "-c", "2", "-i", "0.3", "-W", "2", "203.0.113.1")
	t.Logf("ping 203.0.113.1 (no route):\n%s", out)
	if err == nil || !strings.Contains(out, "From 10.0.2.2 icmp_seq=1 Destination Net Unreachable") || strings.Contains(out, "bytes from") {
		t.Errorf("ping with no route: %v, want Destination Net Unreachable from 10.0.2.2 and no reply", err)
	}
	// A silent address on the web link: no reply at all.
	out, err = g.guest.Output("ping", "-c", "1", "-W", "4", "198.51.100.99")
	t.Logf("ping 198.51.100.99 (nobody):\n%s", out)
	if err == nil || strings.Contains(out, "bytes from") || !strings.Contains(out, "100% packet loss") {
		t.Errorf("ping a silent address: %v, want no reply", err)
	}

	st, err := g.host.Output(binary(t), "status")
	if err != nil {
		t.Fatalf("tapstack status: %v\n%s", err, st)
	}
	for _, l := range strings.Split(st, "\n") {
		if strings.Contains(l, "gateway.ping.") || strings.Contains(l, "echo_relayed") {
			t.Log(strings.TrimSpace(l))
		}
	}
	if !strings.Contains(st, "ipv4 pings relayed through an ICMP socket") || !strings.Contains(st, "ipv6 pings relayed through an ICMP socket") {
		t.Errorf("status: the ping relay's mode is missing:\n%s", st)
	}
	if strings.Contains(st, "gateway.ping.local") || !strings.Contains(st, "gateway.ping.replies") {
		t.Errorf("status: want relayed replies and no local answers:\n%s", st)
	}
}
