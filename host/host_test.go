package host

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
)

// pair returns two hosts, 10.0.0.1/24 and 10.0.0.2/24, joined by a
// link.Pipe, and registers their Close and a leak check with t.
func pair(t *testing.T) (a, b *Host) {
	t.Helper()
	goroutines := runtime.NumGoroutine()
	packets := stack.LivePackets()
	da, db := link.Pipe(1500)
	var err error
	a, err = New(Config{Interfaces: []Interface{{Name: "eth0", Device: da, Addr: netip.MustParsePrefix("10.0.0.1/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("fd00::1/64")}}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err = New(Config{Interfaces: []Interface{{Name: "eth0", Device: db, Addr: netip.MustParsePrefix("10.0.0.2/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("fd00::2/64")}}}, Gateway: netip.MustParseAddr("10.0.0.1")})
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close a: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("close b: %v", err)
		}
		checkNoLeak(t, goroutines, packets)
	})
	return a, b
}

// checkNoLeak waits (bounded) for the goroutine count and the live packet
// count to return to their values before the test, and fails otherwise.
// Goroutines of net/http's server and client end asynchronously after
// their connections close, hence the poll.
func checkNoLeak(t *testing.T, goroutines int, packets int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, p := runtime.NumGoroutine(), stack.LivePackets()
		if g <= goroutines && p <= packets {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("leak after Close: %d goroutines (was %d), %d live packets (was %d)\n%s", g, goroutines, p, packets, buf)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // bounded poll for asynchronous goroutine exit, not synchronisation of the data path
	}
}

// TestBulkBothWays is issue acceptance #3: 10 MiB each way at the same time
// on one connection, byte-exact.
func TestBulkBothWays(t *testing.T) {
	a, b := pair(t)
	const n = 10 << 20
	l, err := b.Listen("tcp", ":5001")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	ca, err := a.DialContext(ctx, "tcp", "10.0.0.2:5001")
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	cb, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer cb.Close()
	if got, want := cb.RemoteAddr().String(), ca.LocalAddr().String(); got != want {
		t.Errorf("server sees peer %s, client is %s", got, want)
	}
	for _, c := range []net.Conn{ca, cb} {
		c.SetDeadline(time.Now().Add(time.Minute))
	}

	dataA, dataB := make([]byte, n), make([]byte, n)
	rand.Read(dataA)
	rand.Read(dataB)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	sums := make([][32]byte, 2)
	send := func(c net.Conn, d []byte) {
		defer wg.Done()
		// Odd-sized writes so segment boundaries do not line up with writes.
		for off := 0; off < len(d); {
			end := min(off+12345, len(d))
			if _, err := c.Write(d[off:end]); err != nil {
				errs <- fmt.Errorf("write: %w", err)
				return
			}
			off = end
		}
	}
	recv := func(c net.Conn, i int) {
		defer wg.Done()
		h := sha256.New()
		if _, err := io.CopyN(h, c, n); err != nil {
			errs <- fmt.Errorf("read: %w", err)
			return
		}
		copy(sums[i][:], h.Sum(nil))
	}
	wg.Add(4)
	go send(ca, dataA)
	go send(cb, dataB)
	go recv(cb, 0) // what b received from a
	go recv(ca, 1) // what a received from b
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if sums[0] != sha256.Sum256(dataA) {
		t.Error("a→b: SHA-256 of received data differs")
	}
	if sums[1] != sha256.Sum256(dataB) {
		t.Error("b→a: SHA-256 of received data differs")
	}
}

// TestEcho is the ping of TCP: lines sent to an echo server come back.
func TestEcho(t *testing.T) {
	a, b := pair(t)
	l, err := b.Listen("tcp", "10.0.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp", "10.0.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for i := range 10 {
		msg := fmt.Sprintf("ping %d from %s", i, c.LocalAddr())
		if _, err := fmt.Fprintln(c, msg); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSuffix(line, "\n") != msg {
			t.Fatalf("echo: got %q, want %q", line, msg)
		}
	}
	c.Close()
	<-done
}

// TestHTTP runs net/http's server on one host and its client on the other.
func TestHTTP(t *testing.T) {
	a, b := pair(t)
	l, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("tapstack ", 50000)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s from %s\n", r.Method, r.URL.Path, r.RemoteAddr)
		io.WriteString(w, body)
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	tr := &http.Transport{DialContext: a.DialContext}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i := range 3 {
		resp, err := client.Get(fmt.Sprintf("http://10.0.0.2/hello/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		wantPrefix := fmt.Sprintf("GET /hello/%d from 10.0.0.1:", i)
		if !strings.HasPrefix(string(got), wantPrefix) || !strings.HasSuffix(string(got), body) {
			t.Fatalf("response %d: %.80q..., want prefix %q and %d bytes of body", i, got, wantPrefix, len(body))
		}
	}
	tr.CloseIdleConnections()
	srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

// TestStatus checks that the status page names the address, the MAC, the
// neighbour and a connection.
func TestStatus(t *testing.T) {
	a, b := pair(t)
	l, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp", "10.0.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var sb strings.Builder
	if err := b.WriteStatus(&sb, false); err != nil {
		t.Fatal(err)
	}
	s := sb.String()
	for _, want := range []string{
		"inet 10.0.0.2/24",
		"link/ether " + b.Stack().NICs()[0].LinkAddress().String(),
		"mtu 1500",
		"default via 10.0.0.1 dev eth0",
		"10.0.0.0/24 dev eth0",
		"10.0.0.1 ", // the ARP entry of a
		a.Stack().NICs()[0].LinkAddress().String(),
		"LISTEN",
		"[::]:7", // dual-stack, as netstat's :::7
	} {
		if !strings.Contains(s, want) {
			t.Errorf("status page lacks %q:\n%s", want, s)
		}
	}
}

// TestPublicStatusHidesPeers: the page served to the network shows every
// TCP and UDP peer as "*" and no counters (CVE-2016-5696: a connection's
// address/port pair and the challenge-ACK and transmit counters are what an
// off-path attacker needs), while WriteStatus shows them to the operator.
func TestPublicStatusHidesPeers(t *testing.T) {
	a, b := pair(t)
	l, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp", "10.0.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if sc := <-accepted; sc != nil {
		defer sc.Close()
	}
	uc, err := b.DialContext(ctx, "udp", "10.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	tcpPeer := c.LocalAddr().String()                 // a's side, 10.0.0.1:port
	udpPeer := "10.0.0.1:9"                           // b's connected UDP endpoint
	local := uc.LocalAddr().(*net.UDPAddr).AddrPort() // b's ephemeral UDP port

	var full, public strings.Builder
	if err := b.WriteStatus(&full, false); err != nil {
		t.Fatal(err)
	}
	if err := b.WritePublicStatus(&public); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{tcpPeer, udpPeer, "# counters (non-zero)", "tcp."} {
		if !strings.Contains(full.String(), want) {
			t.Errorf("operator page lacks %q:\n%s", want, full.String())
		}
	}
	for _, hidden := range []string{tcpPeer, udpPeer, "10.0.0.1:", "# counters (non-zero)", "tcp.", "ipv4.tx"} {
		if strings.Contains(public.String(), hidden) {
			t.Errorf("public page shows %q:\n%s", hidden, public.String())
		}
	}
	for _, want := range []string{"inet 10.0.0.2/24", "default via 10.0.0.1 dev eth0", "10.0.0.1 ", "LISTEN", "ESTABLISHED", "10.0.0.2:7", local.String(), "# counters: not shown"} {
		if !strings.Contains(public.String(), want) {
			t.Errorf("public page lacks %q:\n%s", want, public.String())
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(d link.Device) Config
		want string
	}{
		{"no interfaces", func(link.Device) Config { return Config{} }, "no interfaces"},
		{"no device", func(link.Device) Config {
			return Config{Interfaces: []Interface{{Addr: netip.MustParsePrefix("10.0.0.1/24")}}}
		}, "no device"},
		{"no address", func(d link.Device) Config { return Config{NoSLAAC: true, Interfaces: []Interface{{Device: d}}} }, "has no address"},
		{"IPv4-mapped address", func(d link.Device) Config {
			return Config{Interfaces: []Interface{{Device: d, Addr: netip.MustParsePrefix("::ffff:10.0.0.1/120")}}}
		}, "not a prefix like"},
		{"IPv6 gateway off subnet", func(d link.Device) Config {
			return Config{Interfaces: []Interface{{Device: d, Addr: netip.MustParsePrefix("fd00::1/64")}}, Gateway: netip.MustParseAddr("fd01::1")}
		}, "not inside"},
		{"link-local gateway without interface", func(d link.Device) Config {
			return Config{Interfaces: []Interface{{Device: d, Addr: netip.MustParsePrefix("fd00::1/64")}}, Gateway: netip.MustParseAddr("fe80::1")}
		}, "needs its interface"},
		{"multicast MAC", func(d link.Device) Config {
			return Config{Interfaces: []Interface{{Device: d, MAC: stack.MAC{1, 0, 0x5e, 0, 0, 1}, Addr: netip.MustParsePrefix("10.0.0.1/24")}}}
		}, "multicast"},
		{"gateway off subnet", func(d link.Device) Config {
			return Config{Interfaces: []Interface{{Device: d, Addr: netip.MustParsePrefix("10.0.0.1/24")}}, Gateway: netip.MustParseAddr("192.168.0.1")}
		}, "gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, peer := link.Pipe(1500)
			defer peer.Close()
			h, err := New(tt.cfg(d))
			if err == nil {
				h.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestParseAddrPort(t *testing.T) {
	tests := []struct {
		in       string
		wildcard bool
		want     string // "" means error
	}{
		{"10.0.0.2:80", false, "10.0.0.2:80"},
		{":80", true, "invalid AddrPort"}, // the zero Addr: every address, both families
		{":80", false, ""},
		{"10.0.0.2", false, ""},
		{"10.0.0.2:http", false, ""},
		{"10.0.0.2:65536", false, ""},
		{"example.com:80", false, ""},
		{"[fd00::1]:80", false, "[fd00::1]:80"},
		{"[fe80::1%eth0]:80", false, "[fe80::1%eth0]:80"},
		{"[::ffff:10.0.0.2]:80", false, "10.0.0.2:80"},
	}
	for _, tt := range tests {
		got, err := parseAddrPort(tt.in, tt.wildcard)
		if tt.want == "" {
			if err == nil {
				t.Errorf("parseAddrPort(%q) = %v, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("parseAddrPort(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestRandomMAC(t *testing.T) {
	for range 100 {
		m := RandomMAC()
		if m.IsMulticast() || m[0]&2 == 0 || m.IsZero() {
			t.Fatalf("RandomMAC() = %v: want locally administered unicast", m)
		}
	}
}

// TestUDP sends datagrams from a dialed UDP conn to a ListenPacket echo.
func TestUDP(t *testing.T) {
	a, b := pair(t)
	pc, err := b.ListenPacket("udp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "udp", "10.0.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 2048)
	for i := range 5 {
		msg := fmt.Sprintf("datagram %d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("got %q, %v; want %q", buf[:n], err, msg)
		}
	}
	var sb strings.Builder
	b.WriteStatus(&sb, false)
	if !strings.Contains(sb.String(), "[::]:7") || !strings.Contains(sb.String(), "# udp") {
		t.Errorf("status lacks the UDP endpoint:\n%s", sb.String())
	}
	pc.Close()
	<-done
}
