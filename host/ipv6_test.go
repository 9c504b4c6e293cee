package host

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/ndp"
)

// TestIPv6HTTPAndLinkLocal: a host serves HTTP on a dual-stack ":80" that
// the other reaches at [fd00::2]:80, at its link-local address with the
// interface as zone, and at 10.0.0.2:80, each connection's addresses of
// the family it came in on.
func TestIPv6HTTPAndLinkLocal(t *testing.T) {
	a, b := pair(t)
	l, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from "+r.Host+" to "+r.RemoteAddr)
	})}
	go srv.Serve(l)
	defer srv.Close()
	var ll netip.Addr
	for _, p := range b.Stack().NICs()[0].Addresses() {
		if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			ll = p.Addr()
		}
	}
	if !ll.IsValid() {
		t.Fatal("b has no link-local address")
	}
	client := &http.Client{Transport: &http.Transport{DialContext: a.DialContext}, Timeout: 30 * time.Second}
	for _, tc := range []struct{ url, from string }{
		{"http://[fd00::2]/", "to [fd00::1]:"},
		{"http://[" + ll.String() + "%25eth0]/", "to [fe80::"},
		{"http://10.0.0.2/", "to 10.0.0.1:"},
	} {
		resp, err := client.Get(tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), tc.from) {
			t.Errorf("GET %s: %q, want the peer %q...", tc.url, body, tc.from)
		}
	}
	client.CloseIdleConnections()
}

// TestSLAACFromRouterAdvertisements (RFC 4862 5.5.3, RFC 4861 6.3.4): a
// host with IPv6.Forwarding and Advertise advertises its /64; a host on
// its link configures an address in it, a default route via the router's
// link-local address, and reaches the router's other subnet through it.
func TestSLAACFromRouterAdvertisements(t *testing.T) {
	da, db := link.Pipe(1500)
	dc, dd := link.Pipe(1500)
	defer dd.Close()
	r, err := New(Config{
		Interfaces: []Interface{
			{Name: "eth0", Device: da, Addr: netip.MustParsePrefix("fd00:1::1/64")},
			{Name: "eth1", Device: dc, Addr: netip.MustParsePrefix("fd00:2::1/64")},
		},
		Advertise: &ndp.AdvertiseConfig{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h, err := New(Config{Interfaces: []Interface{{Name: "eth0", Device: db}}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var got netip.Prefix
	deadline := time.Now().Add(20 * time.Second)
	for !got.IsValid() && time.Now().Before(deadline) {
		for _, p := range h.Stack().NICs()[0].Addresses() {
			if netip.MustParsePrefix("fd00:1::/64").Contains(p.Addr()) {
				got = p
			}
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by deadline
	}
	if !got.IsValid() || got.Bits() != 64 {
		t.Fatalf("no SLAAC address in fd00:1::/64: %v", h.Stack().NICs()[0].Addresses())
	}
	var routes strings.Builder
	h.WriteRoutes6(&routes)
	if !strings.Contains(routes.String(), "default via fe80::") || !strings.Contains(routes.String(), "proto ra") {
		t.Errorf("routes lack the learnt default route:\n%s", routes.String())
	}
	// The router answers at its other subnet's address: through the
	// default route.
	l, err := r.Listen("tcp6", "[fd00:2::1]:7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("via the default route"))
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", "[fd00:2::1]:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, _ := io.ReadAll(c)
	if string(b) != "via the default route" {
		t.Errorf("read %q", b)
	}
	if la := c.LocalAddr().(*net.TCPAddr); !netip.MustParsePrefix("fd00:1::/64").Contains(netip.MustParseAddr(la.IP.String())) {
		t.Errorf("local address %v, want the SLAAC one", la)
	}
}
