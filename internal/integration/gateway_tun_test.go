package integration

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestGatewayTUN is issue 16's `tapstack gateway --tun`, IPv4 and IPv6:
// the gateway opens a TUN in its namespace, which then moves into the
// guest's (as slirp4netns hands a sandbox its TUN); the guest sets its
// own addresses in 10.0.2.0/24 and fd00:10:0:2::/64 (a TUN has no DHCP or
// router advertisements) and routes everything into the TUN. Both
// families reach a web server only the gateway's namespace reaches, the
// router addresses reach the gateway's loopback, and a port forward
// reaches the guest over IPv6.
func TestGatewayTUN(t *testing.T) {
	needTools(t, "ip", "curl")
	g := newGWTopo(t) // the guest namespace's veth stays unused
	g.web6(t, nil, nil)
	web := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "web saw %s\n", r.RemoteAddr) })
	go http.Serve(linuxListen(t, g.web, gwWeb+":80"), web)
	go http.Serve(listen6(t, g.web, "["+gwWeb6+"]:80"), web)
	lo := listen6(t, g.host, "[::1]:0")
	go http.Serve(lo, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "host loopback6") }))

	line, _ := startTapstack(t, g.host, "tapstack: gateway on gt0", "gateway", "--tun", "gt0",
		"--forward-port", "tcp:[::1]:8087=[fd00:10:0:2::100]:80")
	if !strings.Contains(line, "fd00:10:0:2::/64") {
		t.Errorf("start line without the IPv6 subnet: %s", line)
	}
	if out, err := g.host.Output("ip", "link", "set", "gt0", "netns", g.guest.Name()); err != nil {
		t.Fatalf("moving the TUN into the guest: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"ip", "addr", "add", "10.0.2.100/24", "dev", "gt0"},
		{"ip", "-6", "addr", "add", "fd00:10:0:2::100/64", "dev", "gt0", "nodad"},
		{"ip", "link", "set", "gt0", "up"},
		{"ip", "route", "replace", "default", "dev", "gt0"},
		{"ip", "-6", "route", "add", "default", "dev", "gt0"},
	} {
		if out, err := g.guest.Output(args[0], args[1:]...); err != nil {
			t.Fatalf("%v in the guest: %v\n%s", args, err, out)
		}
	}
	gl := listen6(t, g.guest, "[fd00:10:0:2::100]:80")
	go http.Serve(gl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "guest saw %s\n", r.RemoteAddr) }))

	curl := func(args ...string) (string, error) {
		return g.guest.Output("curl", append([]string{"-gsS", "--max-time", "20"}, args...)...)
	}
	if out, err := curl("http://" + gwWeb + "/"); err != nil || !strings.Contains(out, "web saw 198.51.100.1:") {
		t.Errorf("curl %s over the TUN: %v\n%s", gwWeb, err, out)
	}
	if out, err := curl("-6", "http://["+gwWeb6+"]/"); err != nil || !strings.Contains(out, "web saw [2001:db8:80::1]:") {
		t.Errorf("curl [%s] over the TUN: %v\n%s", gwWeb6, err, out)
	}
	port := lo.Addr().(*net.TCPAddr).Port
	if out, err := curl(fmt.Sprintf("http://[fd00:10:0:2::2]:%d/", port)); err != nil || out != "host loopback6\n" {
		t.Errorf("curl the IPv6 router address (the host's [::1]) over the TUN: %v\n%s", err, out)
	}
	if out, err := g.host.Output("curl", "-gsS", "--max-time", "20", "http://[::1]:8087/"); err != nil || !strings.Contains(out, "guest saw [fd00:10:0:2::2]:") {
		t.Errorf("curl the forwarded port into the guest over the TUN: %v\n%s", err, out)
	}
}
