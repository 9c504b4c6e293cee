package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dhcp"
)

// Issue 8, acceptance 2: with the DNS server from the DHCP lease, the name
// web.test (served by dnsmasq) resolves through tapstack's resolver, and a
// Go HTTP client over the stack fetches a page from a Linux server by that
// name. The Go net.Resolver from NetResolver resolves it over the stack too.
func TestDNSFromDnsmasqHTTPByName(t *testing.T) {
	ns := bridgeNS(t)
	startDnsmasq(t, ns)
	h := startBareHost(t, ns)
	c := dhcp.New(h.s, h.nic, dhcp.Options{})
	c.Start()
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := c.WaitBound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.DNS) == 0 {
		t.Fatalf("lease %v has no DNS server", l)
	}
	res := resolverFor(l, h)

	got, err := res.LookupHost(ctx, "web.test")
	if err != nil || len(got) != 1 || got[0] != netip.MustParseAddr(bridgeAddr) {
		t.Fatalf("LookupHost(web.test) = %v, %v; want [10.0.0.1]", got, err)
	}
	nr, err := res.NetResolver().LookupNetIP(ctx, "ip4", "web.test")
	if err != nil || len(nr) != 1 || nr[0] != netip.MustParseAddr(bridgeAddr) {
		t.Errorf("NetResolver().LookupNetIP(web.test) = %v, %v", nr, err)
	}

	// A Linux HTTP server at 10.0.0.1, fetched by name over the stack.
	ln := linuxListen(t, ns, bridgeAddr+":0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "linux says hi to %s via %s", r.RemoteAddr, r.Host)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	_, p, _ := strings.Cut(ln.Addr().String(), ":")
	client := &http.Client{Transport: &http.Transport{DialContext: res.DialContext(h.DialContext)}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://web.test:" + p + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "linux says hi to " + l.Addr.Addr().String()
	if err != nil || !strings.HasPrefix(string(body), want) || !strings.HasSuffix(string(body), "via web.test:"+p) {
		t.Errorf("body %q, %v; want %q... via web.test:%s", body, err, want, p)
	}

	// A name dnsmasq does not know is NXDOMAIN, reported as not found.
	var de *net.DNSError
	if _, err := res.LookupHost(ctx, "nope.test"); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("nope.test: %v, want a not-found *net.DNSError", err)
	}
}
