package host_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// proxyPair returns a client host (10.0.0.1, default gateway 10.0.0.2) and
// a proxy host (10.0.0.2) joined by a pipe, the whole IPv4 path with ARP.
func proxyPair(t *testing.T) (client, proxy *host.Host) {
	t.Helper()
	wa, wb := link.Pipe(1500)
	var err error
	client, err = host.New(host.Config{
		Interfaces: []host.Interface{{Name: "eth0", Device: wa, Addr: netip.MustParsePrefix("10.0.0.1/24")}},
		Gateway:    netip.MustParseAddr("10.0.0.2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	proxy, err = host.New(host.Config{
		Interfaces: []host.Interface{{Name: "eth0", Device: wb, Addr: netip.MustParsePrefix("10.0.0.2/24")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return client, proxy
}

// refused is the destination the test forwarders refuse.
var refused = netip.MustParseAddr("192.0.2.99")

// echoProxy installs forwarders that echo TCP and UDP flows, refuse those
// to `refused`, and answer pings to 192.0.2.0/24.
func echoProxy(t *testing.T, h *host.Host) *host.Forwarders {
	t.Helper()
	f, err := h.InstallForwarders(host.ForwarderConfig{
		TCP: func(r *tcp.ForwarderRequest) {
			if r.ID().Local.Addr() == refused {
				r.Refuse()
				return
			}
			c, err := r.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			io.Copy(c, c)
		},
		UDP: func(r *udp.ForwarderRequest) {
			if r.ID().Local.Addr() == refused {
				r.Refuse()
				return
			}
			c, err := r.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 1500)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				c.Write(buf[:n])
			}
		},
		Echo: func(_, dst netip.Addr) bool { return netip.MustParsePrefix("192.0.2.0/24").Contains(dst) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip writes msg on c and reads it back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q: %q %v", msg, buf, err)
	}
}

// TestInstallForwarders (issue 15 items 2 and 3 over the whole IPv4 path):
// a client routed through the host reaches any address by TCP and UDP
// through the Go callbacks, a refused flow is "connection refused" for
// both, and pings to forwarded addresses are answered when the Echo
// callback allows.
func TestInstallForwarders(t *testing.T) {
	client, proxy := proxyPair(t)
	echoProxy(t, proxy)
	c, err := client.DialContext(ctxT(t), "tcp", "192.0.2.80:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, "tcp through the forwarder")

	u, err := client.DialContext(ctxT(t), "udp", "198.51.100.53:53")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	roundTrip(t, u, "udp through the forwarder")

	if _, err := client.DialContext(ctxT(t), "tcp", "192.0.2.99:80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("tcp to a refused destination: %v, want connection refused", err)
	}
	ur, err := client.DialContext(ctxT(t), "udp", "192.0.2.99:53")
	if err != nil {
		t.Fatal(err)
	}
	defer ur.Close()
	ur.Write([]byte("q"))
	ur.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := ur.Read(make([]byte, 8)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("udp to a refused destination: %v, want connection refused", err)
	}

	if rtt, err := client.Ping(ctxT(t), netip.MustParseAddr("10.0.0.2")); err != nil || rtt < 0 {
		t.Errorf("ping the proxy: %v %v", rtt, err)
	}
	if _, err := client.Ping(ctxT(t), netip.MustParseAddr("192.0.2.1")); err != nil {
		t.Errorf("ping a forwarded address: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := client.Ping(ctx, netip.MustParseAddr("203.0.113.1")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ping an address the Echo callback refuses: %v, want no reply", err)
	}
}

// TestForwardersCloseRestoresHost: after Forwarders.Close the host drops
// traffic to other addresses again (the client's connect times out).
func TestForwardersCloseRestoresHost(t *testing.T) {
	client, proxy := proxyPair(t)
	f := echoProxy(t, proxy)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := client.DialContext(ctx, "tcp", "192.0.2.80:80"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial after Close: %v, want no answer", err)
	}
	if proxy.IPv4().AcceptsAnyDestination() {
		t.Fatal("accept-any still on")
	}
}
