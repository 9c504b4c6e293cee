package integration

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// gwWeb6 is the web namespace's IPv6 address: only the gateway's
// namespace has a route to it.
const gwWeb6 = "2001:db8:80::80"

// web6 gives the web namespace gwWeb6, routed through the host
// namespace's 2001:db8:80::1, then runs guestCmd in the guest namespace
// and hostCmd in the host's (each optional).
func (g gwTopo) web6(t *testing.T, guestCmd, hostCmd []string) {
	t.Helper()
	for _, c := range []struct {
		ns   *netnstest.NS
		args []string
	}{
		{g.host, []string{"ip", "-6", "addr", "add", "2001:db8:80::1/64", "dev", "vw0", "nodad"}},
		{g.web, []string{"ip", "-6", "addr", "add", gwWeb6 + "/64", "dev", "eth0", "nodad"}},
		{g.web, []string{"ip", "-6", "route", "add", "default", "via", "2001:db8:80::1"}},
		{g.guest, guestCmd},
		{g.host, hostCmd},
	} {
		if len(c.args) == 0 {
			continue
		}
		if out, err := c.ns.Output(c.args[0], c.args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out)
		}
	}
}

// Issue 16: "IPv6 (SLAAC from the gateway's RAs, relay over the host's
// IPv6)". The Linux guest has no IPv6 address but its link-local; the
// gateway advertises fd00:10:0:2::/64 (RFC 4861 6.2, RDNSS RFC 8106), the
// guest autoconfigures an address in it (RFC 4862) and a default route
// through the gateway, curls an IPv6-only web server only the gateway's
// namespace reaches, reaches the host's [::1] through the router address
// fd00:10:0:2::2, and the DNS server at fd00:10:0:2::3 answers AAAA.
func TestGatewayIPv6SLAACAndRelay(t *testing.T) {
	needTools(t, "ip", "curl", "busybox", "sh")
	g := newGWTopo(t)
	g.web6(t,
		[]string{"sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/eth0/accept_ra && echo 0 > /proc/sys/net/ipv6/conf/eth0/dad_transmits"},
		// Unprivileged ICMP sockets (both families) for the ping relay.
		[]string{"sh", "-c", "echo 0 2147483647 > /proc/sys/net/ipv4/ping_group_range"})
	wl := listen6(t, g.web, "["+gwWeb6+"]:80")
	go http.Serve(wl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "web6 saw %s\n", r.RemoteAddr) }))
	lo := listen6(t, g.host, "[::1]:0")
	go http.Serve(lo, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "host loopback6") }))

	line, _ := startTapstack(t, g.host, "tapstack: gateway on tap0", "gateway", "--tap", "tap0", "--bridge", "br0",
		"--forward-port", "tcp:[::1]:8086=[fd00:10:0:2::15]:80")
	if !strings.Contains(line, "fd00:10:0:2::/64") {
		t.Errorf("start line without the IPv6 subnet: %s", line)
	}
	// The guest solicits routers again now that the gateway runs.
	for _, args := range [][]string{{"ip", "link", "set", "eth0", "down"}, {"ip", "link", "set", "eth0", "up"}} {
		if out, err := g.guest.Output(args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	var addrs string
	if !poll(30*time.Second, func() bool {
		addrs, _ = g.guest.Output("ip", "-6", "addr", "show", "dev", "eth0", "scope", "global")
		return strings.Contains(addrs, "inet6 fd00:10:0:2:") && !strings.Contains(addrs, "tentative")
	}) {
		t.Fatalf("the guest has no SLAAC address from the gateway's advertisements:\n%s", addrs)
	}
	// A static address in the guests' /64 (added now: taking the link
	// down flushed any before) and a server on it for the port forward.
	if out, err := g.guest.Output("ip", "-6", "addr", "add", "fd00:10:0:2::15/64", "dev", "eth0", "nodad"); err != nil {
		t.Fatalf("ip addr add in the guest: %v\n%s", err, out)
	}
	gl := listen6(t, g.guest, "[fd00:10:0:2::15]:80")
	go http.Serve(gl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "guest6 saw %s\n", r.RemoteAddr) }))
	routes, _ := g.guest.Output("ip", "-6", "route", "show", "default")
	t.Logf("guest: %s\nguest default route: %s", strings.TrimSpace(addrs), strings.TrimSpace(routes))
	if !strings.Contains(routes, "via fe80::") {
		t.Fatalf("no default route through the gateway: %q", routes)
	}

	curl := func(url string) (string, error) {
		return g.guest.Output("curl", "-6", "-gsS", "--max-time", "20", url)
	}
	if out, err := curl("http://[" + gwWeb6 + "]/"); err != nil || !strings.Contains(out, "web6 saw [2001:db8:80::1]:") {
		t.Fatalf("curl the IPv6-only web server through the gateway: %v\n%s", err, out)
	}
	port := lo.Addr().(*net.TCPAddr).Port
	if out, err := curl(fmt.Sprintf("http://[fd00:10:0:2::2]:%d/", port)); err != nil || out != "host loopback6\n" {
		t.Errorf("curl the router address (the host's [::1]): %v\n%s", err, out)
	}
	if out, err := g.guest.Output("busybox", "nslookup", "-type=AAAA", "gateway", "fd00:10:0:2::3"); err != nil || !strings.Contains(out, "fd00:10:0:2::2") {
		t.Errorf("AAAA of gateway from the DNS server at fd00:10:0:2::3: %v\n%s", err, out)
	}
	// A port forward into the guest over IPv6: the host's [::1]:8086
	// reaches the guest's server, from the router address.
	if out, err := g.host.Output("curl", "-gsS", "--max-time", "20", "http://[::1]:8086/"); err != nil || !strings.Contains(out, "guest6 saw [fd00:10:0:2::2]:") {
		t.Errorf("curl the forwarded port [::1]:8086 into the IPv6 guest: %v\n%s", err, out)
	}

	// UDP over IPv6: a closed port's unreachable reaches the guest's
	// first datagram (ECONNREFUSED on its connected socket).
	if err := g.guest.Run(func() error {
		c, err := net.DialUDP("udp6", nil, &net.UDPAddr{IP: net.ParseIP(gwWeb6), Port: 9999})
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(15 * time.Second)) // failure guard
		c.Write([]byte("hello"))
		_, err = c.Read(make([]byte, 16))
		return err
	}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("UDP over IPv6 to a closed port: %v, want ECONNREFUSED on the first datagram", err)
	}

	// Pings relayed over an ICMPv6 socket of the gateway's namespace:
	// every echo answered and seen by the web namespace's kernel; no
	// route: destination unreachable from the router.
	before := snmp6Counter(t, g.web, "Icmp6InEchos")
	out, err := g.guest.Output("ping", "-6", "-c", "3", "-i", "0.3", "-W", "5", gwWeb6)
	t.Logf("ping -6 %s:\n%s", gwWeb6, out)
	if err != nil || !strings.Contains(out, "3 received, 0% packet loss") {
		t.Errorf("ping -6 through the gateway: %v, want 3 of 3 answered", err)
	}
	if n := snmp6Counter(t, g.web, "Icmp6InEchos") - before; n != 3 {
		t.Errorf("the web namespace saw %d echo requests, want 3", n)
	}
	// The host namespace routes 2001:db8:99::/64 back through the
	// gateway from an address of its own in the guests' /64 (what br0
	// autoconfigures from the gateway's advertisements when accept_ra is
	// on, as on most hosts): an echo there comes back from br0's address
	// to the gateway, which must not relay it again (the loop guard): no
	// reply, and one relay, not thousands.
	for _, args := range [][]string{
		{"ip", "-6", "addr", "add", "fd00:10:0:2::99/64", "dev", "br0", "nodad"},
		{"ip", "-6", "route", "add", "2001:db8:99::/64", "via", "fd00:10:0:2::2", "dev", "br0"},
	} {
		if out, err := g.host.Output(args[0], args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	relayed := gwCounter(t, g, "gateway.ping.relayed")
	out, err = g.guest.Output("ping", "-6", "-c", "1", "-W", "2", "2001:db8:99::1")
	t.Logf("ping -6 2001:db8:99::1 (routed back to the gateway):\n%s", out)
	if err == nil || strings.Contains(out, "bytes from") {
		t.Errorf("ping -6 into the loop: %v, want no reply", err)
	}
	if n := gwCounter(t, g, "gateway.ping.relayed") - relayed; n != 1 || gwCounter(t, g, "gateway.rx.own_source") == 0 {
		t.Errorf("one echo into the loop relayed %d times (own_source %d), want once", n, gwCounter(t, g, "gateway.rx.own_source"))
	}
	// A TCP connection into the loop: the host's SYN from br0's address
	// is refused, so the guest's connection is refused, not relayed
	// again and again.
	own := gwCounter(t, g, "gateway.rx.own_source")
	if out, err := curl("http://[2001:db8:99::1]/"); err == nil || !strings.Contains(err.Error(), "exit status 7") {
		t.Errorf("curl into the loop: %v, want refused (exit 7)\n%s", err, out)
	}
	if n := gwCounter(t, g, "gateway.rx.own_source") - own; n != 1 {
		t.Errorf("one connection into the loop: %d refused own-source flows, want 1", n)
	}
	// Without that route: destination unreachable, no route.
	if out, err := g.host.Output("ip", "-6", "route", "del", "2001:db8:99::/64"); err != nil {
		t.Fatalf("route del: %v\n%s", err, out)
	}
	out, err = g.guest.Output("ping", "-6", "-c", "1", "-W", "2", "2001:db8:99::1")
	t.Logf("ping -6 2001:db8:99::1 (no route):\n%s", out)
	if err == nil || !strings.Contains(out, "Destination unreachable: No route") {
		t.Errorf("ping -6 with no route: %v, want Destination unreachable: No route", err)
	}
	st, _ := g.host.Output(binary(t), "status")
	for _, l := range strings.Split(st, "\n") {
		if strings.Contains(l, "gateway.ping") || strings.Contains(l, "echo_relayed") || strings.Contains(l, "icmpv6.tx") {
			t.Log(strings.TrimSpace(l))
		}
	}
}

// snmp6Counter returns a counter of /proc/net/snmp6 in ns.
func snmp6Counter(t *testing.T, ns *netnstest.NS, name string) int64 {
	t.Helper()
	out, err := ns.Output("cat", "/proc/net/snmp6")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/net/snmp6", name)
	return 0
}

// gwCounter returns a counter of the gateway's status page.
func gwCounter(t *testing.T, g gwTopo, name string) int64 {
	t.Helper()
	st, err := g.host.Output(binary(t), "status")
	if err != nil {
		t.Fatalf("tapstack status: %v\n%s", err, st)
	}
	for _, l := range strings.Split(st, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}
