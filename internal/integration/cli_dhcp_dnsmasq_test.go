package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/tap"
)

// TestCLIDHCPFromDnsmasq is issue 8, acceptance 1, through the command:
// `tapstack up --dhcp` on a bridge with dnsmasq gets an address from its
// range, Linux pings and curls it there, the status page shows the lease,
// the host renews (--dhcp-renew 2s, a hidden test flag: dnsmasq's shortest
// lease is two minutes), `tapstack resolve` asks dnsmasq over the stack,
// and after SIGTERM the lease is released: dnsmasq's lease file no longer
// holds it.
func TestCLIDHCPFromDnsmasq(t *testing.T) {
	needTools(t, "ping", "curl")
	ns := bridgeNS(t)
	dm := startDnsmasq(t, ns)
	line, pid := startTapstack(t, ns, "tapstack: up on tap0 (bridge br0) as 10.0.0.",
		"up", "--tap", "tap0", "--bridge", "br0", "--dhcp", "--hostname", "clivm", "--dhcp-renew", "2s")
	m := regexp.MustCompile(`as (10\.0\.0\.\d+)/24 \(DHCP from 10\.0\.0\.1\) fe80::\S+/64 mac (\S+) mtu 1500 gateway 10\.0\.0\.1 dns 10\.0\.0\.1 offload: (\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("up line %q lacks 'as ADDR/24 (DHCP from 10.0.0.1) fe80::IID/64 mac M mtu 1500 gateway 10.0.0.1 dns 10.0.0.1 offload: ...'", line)
	}
	addr := netip.MustParseAddr(m[1])
	if !inRange(addr) {
		t.Fatalf("leased %v, not in dnsmasq's range 10.0.0.50-60", addr)
	}
	// dnsmasq writes its lease file after it sends the ACK, in its own time.
	shows := func() bool {
		ls := dm.leases()
		return strings.Contains(ls, addr.String()) && strings.Contains(ls, m[2]) && strings.Contains(ls, "clivm")
	}
	if !poll(10*time.Second, shows) {
		t.Errorf("dnsmasq lease file does not show %v %s clivm:\n%s", addr, m[2], dm.leases())
	}

	if out, err := ns.Output("ping", "-c", "2", "-W", "5", addr.String()); err != nil || !strings.Contains(out, " 0% packet loss") {
		t.Errorf("ping %v: %v\n%s", addr, err, out)
	}
	page, err := ns.Output("curl", "-sS", "--max-time", "20", "http://"+addr.String()+"/")
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", addr, err, page)
	}
	// The renewal is due 2 s after binding, so the page may catch the
	// client between its REQUEST and the ACK: it holds the lease in both.
	if !regexp.MustCompile(`# dhcp \(tap0: (BOUND|RENEWING)\)`).MatchString(page) {
		t.Errorf("status page lacks \"# dhcp (tap0: BOUND)\" (or RENEWING):\n%s", page)
	}
	for _, want := range []string{
		"address   " + addr.String() + "/24", "server    10.0.0.1", "router    10.0.0.1",
		"dns       10.0.0.1", "lease     2m0s", "obtained  ", "renew     ", "rebind    ", "expires   ",
		"# dns (from DHCP)", "nameserver 10.0.0.1", "inet " + addr.String() + "/24",
		"default via 10.0.0.1 dev tap0",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q:\n%s", want, page)
		}
	}
	if out, err := ns.Output("curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{size_download}", "http://"+addr.String()+"/bytes?n=1000000"); err != nil || out != "1000000" {
		t.Errorf("curl /bytes: %q %v", out, err)
	}

	// Renewal through the client: a second REQUEST/ACK for the address.
	if !dm.waitLog(func(s string) bool { return strings.Contains(s, "DHCPACK(br0) "+addr.String()+" ") }, 2) {
		t.Errorf("dnsmasq logged %d DHCPACKs for %v, want 2 (bind and renew)", dm.count("DHCPACK(br0) "+addr.String()+" "), addr)
	}

	// The resolver uses the lease's DNS server, over the stack.
	if out, err := ns.Output(binary(t), "resolve", "web.test"); err != nil || out != "10.0.0.1\n" {
		t.Errorf("tapstack resolve web.test: %q %v", out, err)
	}
	if out, err := ns.Output(binary(t), "resolve", "nope.test"); err == nil || !strings.Contains(out, "no such host") {
		t.Errorf("tapstack resolve nope.test: %q %v, want exit 1 and no such host", out, err)
	}

	// SIGTERM: the command releases the lease before the host closes.
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !dm.waitLog(func(s string) bool { return strings.Contains(s, "DHCPRELEASE(br0) "+addr.String()+" ") }, 1) {
		t.Error("dnsmasq logged no DHCPRELEASE")
	}
	if !poll(30*time.Second, func() bool { return !strings.Contains(dm.leases(), addr.String()) }) {
		t.Errorf("lease file still holds %v after SIGTERM:\n%s", addr, dm.leases())
	}
	t.Logf("released %v; dnsmasq lease file now %q", addr, dm.leases())
}

// TestCLIDHCPNoServer: without a DHCP server on the bridge, up gives up
// after --dhcp-wait (30s by default) with one line and exit status 1.
func TestCLIDHCPNoServer(t *testing.T) {
	ns := bridgeNS(t)
	cmd := ns.Cmd(binary(t), "up", "--tap", "tap0", "--bridge", "br0", "--dhcp", "--dhcp-wait", "3s")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d (%v), want 1", code, err)
	}
	// While it waits, up says what it does: DISCOVERs, one line each.
	want := "tapstack: no DHCP offer on br0 after 3s (is a DHCP server on the bridge?)\n"
	if !strings.HasPrefix(stderr.String(), "tapstack: dhcp: DISCOVER sent on tap0 (bridge br0)\n") ||
		withoutDHCPProgress(stderr.String()) != want || stdout.Len() != 0 {
		t.Errorf("stderr %q stdout %q, want DISCOVER lines then %q", stderr.String(), stdout.String(), want)
	}
}

// TestHostDHCPResolverHTTP: an embedder's host.Host with Interface.DHCP
// gets its lease from dnsmasq, and a Go http.Client whose transport dials
// with h.DialContext fetches http://web.test:8080/ from a Linux server:
// the name is resolved by h.Resolver() with the lease's DNS server, over
// the stack (issue 8, acceptance 2, through package host).
func TestHostDHCPResolverHTTP(t *testing.T) {
	ns := bridgeNS(t)
	startDnsmasq(t, ns)
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tap0", Bridge: "br0"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "tap0", Device: dev, DHCP: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := h.WaitDHCP(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lease %v", l)
	if got := h.Resolver().Servers; len(got) != 1 || got[0].String() != "10.0.0.1:53" {
		t.Errorf("resolver servers %v, want the lease's 10.0.0.1:53", got)
	}
	ln := linuxListen(t, ns, bridgeAddr+":8080")
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s, this is %s\n", r.RemoteAddr, r.Host)
	}))
	tr := &http.Transport{DialContext: h.DialContext}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://web.test:8080/", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "hello " + l.Addr.Addr().String() + ":"; !strings.HasPrefix(string(body), want) || !strings.Contains(string(body), "this is web.test:8080") {
		t.Errorf("body %q, want %q... web.test:8080", body, want)
	}
	if _, err := h.DialContext(ctx, "tcp", "nope.test:80"); err == nil || !strings.Contains(err.Error(), "no such host") {
		t.Errorf("Dial nope.test: %v, want no such host", err)
	}
}
