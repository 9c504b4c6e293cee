package gateway_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/gateway"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link/channel"
)

// pump moves every packet from's stack sends into to's stack.
func pump(from, to *channel.Channel) {
	bufs := make([][]byte, 64)
	pkts := make([][]byte, 64)
	sizes := make([]int, 64)
	for i := range bufs {
		bufs[i] = make([]byte, from.MTU())
	}
	for {
		n, err := from.Read(bufs, sizes, 0)
		if err != nil {
			return
		}
		for i := range n {
			pkts[i] = bufs[i][:sizes[i]]
		}
		if _, err := to.Write(pkts[:n], 0); err != nil {
			return
		}
	}
}

// pair joins a guest host (10.0.2.15/24, default route via 10.0.2.2) and
// a gateway host (10.0.2.2 and 10.0.2.3) by packet channels and installs
// a gateway with cfg (Subnet filled in).
func pair(t *testing.T, cfg gateway.Config) (guest *host.Host, g *gateway.Gateway) {
	t.Helper()
	cg, _ := channel.New(channel.Config{})
	cw, _ := channel.New(channel.Config{})
	guest, err := host.New(host.Config{
		Interfaces: []host.Interface{{Name: "eth0", Endpoint: cg, Addr: netip.MustParsePrefix("10.0.2.15/24")}},
		Gateway:    netip.MustParseAddr("10.0.2.2"),
	})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "tap0", Endpoint: cw,
		Addr: netip.MustParsePrefix("10.0.2.2/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.3/24")}}}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pump(cg, cw) }()
	go func() { defer wg.Done(); pump(cw, cg) }()
	cfg.Subnet = netip.MustParsePrefix("10.0.2.0/24")
	g, err = gateway.New(gw, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("gateway close: %v", err)
		}
		guest.Close()
		gw.Close()
		wg.Wait()
	})
	return guest, g
}

// listenLocal serves f on 127.0.0.1 (a kernel socket).
func listenLocal(t *testing.T, f func(net.Conn)) *net.TCPListener {
	t.Helper()
	l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go f(c)
		}
	}()
	return l
}

// redirect is a Dial that sends every destination to the kernel address
// to, and records what was asked.
func redirect(to string, asked chan<- string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if asked != nil {
			asked <- network + " " + addr
		}
		return (&net.Dialer{}).DialContext(ctx, network, to)
	}
}

func dialGuest(t *testing.T, guest *host.Host, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return guest.DialContext(ctx, network, addr)
}

// The router address stands for the host's loopback (slirp): a guest's
// connection to 10.0.2.2:PORT reaches 127.0.0.1:PORT.
func TestRouterAddressIsHostLoopback(t *testing.T) {
	l := listenLocal(t, func(c net.Conn) { io.WriteString(c, "loopback"); c.Close() })
	guest, _ := pair(t, gateway.Config{})
	port := l.Addr().(*net.TCPAddr).Port
	c, err := dialGuest(t, guest, "tcp4", netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), uint16(port)).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "loopback" {
		t.Fatalf("read %q, %v; want \"loopback\"", b, err)
	}
}

// A relay carries a half-close both ways (RFC 9293 3.6: a FIN closes one
// direction only): the guest's CloseWrite reaches the server as EOF, and
// the server's answer after it still reaches the guest, then its FIN.
func TestRelayHalfClose(t *testing.T) {
	l := listenLocal(t, func(c net.Conn) {
		b, _ := io.ReadAll(c) // until the guest's FIN
		io.WriteString(c, "got "+string(b))
		c.(*net.TCPConn).CloseWrite()
		io.ReadAll(c)
		c.Close()
	})
	asked := make(chan string, 1)
	guest, _ := pair(t, gateway.Config{Dial: redirect(l.Addr().String(), asked)})
	c, err := dialGuest(t, guest, "tcp4", "192.0.2.80:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if a := <-asked; a != "tcp4 192.0.2.80:80" {
		t.Errorf("dialed %q, want tcp4 192.0.2.80:80", a)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "hello")
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "got hello" {
		t.Fatalf("read %q, %v; want \"got hello\" then EOF", b, err)
	}
}

// A refused real connect refuses the guest: ECONNREFUSED, as the
// destination would have answered; so does a destination inside the
// subnet that is not the router (never dialed).
func TestRefusedDestinationRefusesGuest(t *testing.T) {
	asked := make(chan string, 4)
	guest, _ := pair(t, gateway.Config{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		asked <- addr
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}})
	for _, dst := range []string{"192.0.2.81:80", "10.0.2.99:80", "10.0.2.3:80"} {
		_, err := dialGuest(t, guest, "tcp4", dst)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s: %v, want ECONNREFUSED", dst, err)
		}
	}
	if len(asked) != 1 || <-asked != "192.0.2.81:80" {
		t.Errorf("the gateway dialed other than 192.0.2.81:80 alone")
	}
}

// A reset from the destination reaches the guest as a reset.
func TestDestinationResetResetsGuest(t *testing.T) {
	l := listenLocal(t, func(c net.Conn) {
		c.Read(make([]byte, 1)) // the guest's dial has completed
		io.WriteString(c, "x")
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	guest, _ := pair(t, gateway.Config{Dial: redirect(l.Addr().String(), nil)})
	c, err := dialGuest(t, guest, "tcp4", "192.0.2.80:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "?")
	_, err = io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the destination's RST: %v, want ECONNRESET", err)
	}
}

// The per-guest cap refuses a guest's connection beyond it (counted) and
// gives the slot back when a relay ends.
func TestPerGuestCap(t *testing.T) {
	l := listenLocal(t, func(c net.Conn) { io.Copy(c, c); c.Close() })
	guest, g := pair(t, gateway.Config{Dial: redirect(l.Addr().String(), nil), MaxConnsPerGuest: 2})
	var held []net.Conn
	for i := range 2 {
		c, err := dialGuest(t, guest, "tcp4", "192.0.2.80:80")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		held = append(held, c)
	}
	if _, err := dialGuest(t, guest, "tcp4", "192.0.2.80:80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("third connection over a cap of 2: %v, want ECONNREFUSED", err)
	}
	if n := g.Stats().TCPRelays; n != 2 {
		t.Errorf("TCPRelays %d, want 2", n)
	}
	held[0].Close()
	deadline := time.Now().Add(20 * time.Second)
	for g.Stats().TCPRelays != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // poll with a bounded deadline
	}
	c, err := dialGuest(t, guest, "tcp4", "192.0.2.80:80")
	if err != nil {
		t.Fatalf("a connection after one ended: %v", err)
	}
	c.Close()
	held[1].Close()
}

// UDP flows are relayed on a connected socket; a destination that answers
// port unreachable (RFC 1122 3.2.2.1) makes the gateway answer the
// guest's first datagram with port unreachable from that destination
// (ECONNREFUSED on the guest's connected socket), and the next one too.
func TestUDPRelayAndPortUnreachable(t *testing.T) {
	echo, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(buf[:n], from)
		}
	}()
	closed, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	closedAddr := closed.LocalAddr().String()
	closed.Close() // nothing listens there now: the kernel answers port unreachable
	guest, _ := pair(t, gateway.Config{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		to := echo.LocalAddr().String()
		if addr == "192.0.2.99:9" {
			to = closedAddr
		}
		return (&net.Dialer{}).DialContext(ctx, network, to)
	}})
	c, err := dialGuest(t, guest, "udp4", "192.0.2.53:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("query"))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "query" {
		t.Fatalf("udp echo through the gateway: %q %v", buf[:n], err)
	}

	d, err := dialGuest(t, guest, "udp4", "192.0.2.99:9")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.SetReadDeadline(time.Now().Add(20 * time.Second)) // failure guard
	d.Write([]byte("anyone?"))
	if _, err = d.Read(buf); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("the first datagram to a closed port: read %v, want ECONNREFUSED", err)
	}
	// The next datagram of the flow is refused too (the refused cache).
	d.SetReadDeadline(time.Now().Add(20 * time.Second))
	d.Write([]byte("anyone?"))
	if _, err = d.Read(buf); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("the second datagram to a closed port: read %v, want ECONNREFUSED", err)
	}
}

// A host port forward reaches a guest's server through the stack.
func TestPortForwardTCP(t *testing.T) {
	guest, g := pair(t, gateway.Config{Forwards: []gateway.Forward{{
		Network: "tcp", Listen: netip.MustParseAddrPort("127.0.0.1:0"), Guest: netip.MustParseAddrPort("10.0.2.15:80")}}})
	l, err := guest.Listen("tcp4", ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, "from the guest")
		c.Close()
	}()
	c, err := net.Dial("tcp4", g.ForwardAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "from the guest" {
		t.Fatalf("read %q, %v through the forward", b, err)
	}
}

// A UDP port forward carries a host client's datagram to the guest and
// the answer back.
func TestPortForwardUDP(t *testing.T) {
	guest, g := pair(t, gateway.Config{Forwards: []gateway.Forward{{
		Network: "udp", Listen: netip.MustParseAddrPort("127.0.0.1:0"), Guest: netip.MustParseAddrPort("10.0.2.15:53")}}})
	pc, err := guest.ListenPacket("udp4", ":53")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			pc.WriteTo(append([]byte("re: "), buf[:n]...), from)
		}
	}()
	c, err := net.Dial("udp4", g.ForwardAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("q"))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "re: q" {
		t.Fatalf("read %q, %v through the UDP forward", buf[:n], err)
	}
}

func TestParseForward(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"tcp:8080=10.0.2.15:80", "tcp:0.0.0.0:8080=10.0.2.15:80", true},
		{"udp:127.0.0.1:5353=10.0.2.15:53", "udp:127.0.0.1:5353=10.0.2.15:53", true},
		{"sctp:1=10.0.2.15:1", "", false},
		{"tcp:8080", "", false},
		{"tcp:0=10.0.2.15:80", "", false},
		{"tcp:8080=10.0.2.15", "", false},
		{"tcp:x=10.0.2.15:80", "", false},
		{"tcp:8080=[fd00:10:0:2::15]:80", "tcp:0.0.0.0:8080=[fd00:10:0:2::15]:80", true},
		{"udp:[::1]:5353=[fd00:10:0:2::15]:53", "udp:[::1]:5353=[fd00:10:0:2::15]:53", true},
		{"tcp:8080=[::ffff:10.0.2.15]:80", "", false},
		{"tcp:8080=[fe80::1%eth0]:80", "", false},
	} {
		f, err := gateway.ParseForward(tc.in)
		if (err == nil) != tc.ok || (tc.ok && f.String() != tc.want) {
			t.Errorf("ParseForward(%q) = %v, %v; want %q ok=%v", tc.in, f, err, tc.want, tc.ok)
		}
	}
}

// The DNS address's port 53 goes to DNSUpstream when no server on the
// host takes it (slirp's 10.0.2.3).
func TestDNSAddressGoesUpstream(t *testing.T) {
	up, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		buf := make([]byte, 512)
		n, from, err := up.ReadFrom(buf)
		if err == nil {
			up.WriteTo(append([]byte("upstream: "), buf[:n]...), from)
		}
	}()
	guest, _ := pair(t, gateway.Config{DNSUpstream: netip.MustParseAddrPort(up.LocalAddr().String())})
	c, err := dialGuest(t, guest, "udp4", "10.0.2.3:53")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("q"))
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "upstream: q" {
		t.Fatalf("read %q, %v from 10.0.2.3:53", buf[:n], err)
	}
}
