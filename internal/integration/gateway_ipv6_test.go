package integration

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// gwWeb6 is the web namespace's IPv6 address: only the gateway's
// namespace has a route to it.
const gwWeb6 = "2001:db8:80::80"

// linuxListen6 listens on TCP over IPv6 on the Linux side of ns.
func linuxListen6(t *testing.T, ns *netnstest.NS, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := ns.Run(func() (err error) {
		l, err = net.Listen("tcp6", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
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
	for _, c := range []struct {
		ns   *netnstest.NS
		args []string
	}{
		{g.host, []string{"ip", "-6", "addr", "add", "2001:db8:80::1/64", "dev", "vw0", "nodad"}},
		{g.web, []string{"ip", "-6", "addr", "add", gwWeb6 + "/64", "dev", "eth0", "nodad"}},
		{g.web, []string{"ip", "-6", "route", "add", "default", "via", "2001:db8:80::1"}},
		{g.guest, []string{"sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/eth0/accept_ra && echo 0 > /proc/sys/net/ipv6/conf/eth0/dad_transmits"}},
	} {
		if out, err := c.ns.Output(c.args[0], c.args[1:]...); err != nil {
			t.Fatalf("%v: %v\n%s", c.args, err, out)
		}
	}
	wl := linuxListen6(t, g.web, "["+gwWeb6+"]:80")
	go http.Serve(wl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "web6 saw %s\n", r.RemoteAddr) }))
	lo := linuxListen6(t, g.host, "[::1]:0")
	go http.Serve(lo, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "host loopback6") }))

	line, _ := startTapstack(t, g.host, "tapstack: gateway on tap0", "gateway", "--tap", "tap0", "--bridge", "br0")
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
}
