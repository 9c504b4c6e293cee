package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const bulk = 100 << 20 // 100 MiB

// TestPingAndCurlStatus: the kernel pings the virtual host and curl reads
// its status page (issue acceptance #2, first part).
func TestPingAndCurlStatus(t *testing.T) {
	needTools(t, "ping", "curl", "ip")
	ns := bridgeNS(t)
	startCommand(t, ns)

	out, err := ns.Output("ping", "-c", "3", "-W", "5", hostAddr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("ping lost packets:\n%s", out)
	}
	out, err = ns.Output("curl", "-sS", "--max-time", "20", "http://"+hostAddr+"/")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"inet 10.0.0.2/24", "default via 10.0.0.1 dev tap0", "LISTEN"} {
		if !strings.Contains(out, want) {
			t.Errorf("status page lacks %q:\n%s", want, out)
		}
	}
	// The kernel (10.0.0.1) pinged us, so it is in our ARP cache.
	if !strings.Contains(out, bridgeAddr+" ") {
		t.Errorf("status page has no ARP entry for %s:\n%s", bridgeAddr, out)
	}
}

// TestEchoUpload100MiB streams 100 MiB from a Linux socket through the
// host's echo service and checks that exactly the same bytes come back.
func TestEchoUpload100MiB(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	startCommand(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	c, err := linuxDial(ctx, ns, "tcp4", hostAddr+":7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(50 * time.Second))

	sent := sha256.New()
	sendErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.TeeReader(newPatternReader(bulk, 1), sent))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		sendErr <- err
	}()
	got := sha256.New()
	n, err := io.Copy(got, c)
	if err != nil {
		t.Fatalf("reading the echo after %d bytes: %v", n, err)
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("sending: %v", err)
	}
	if n != bulk {
		t.Fatalf("echo returned %d bytes, sent %d", n, bulk)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatal("echo returned different bytes (SHA-256 differs)")
	}
}

// TestBytesDownload100MiB fetches 100 MiB from /bytes with a Linux-side Go
// HTTP client and checks the length and SHA-256.
func TestBytesDownload100MiB(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	startCommand(t, ns)
	client := linuxHTTPClient(ns)
	defer client.CloseIdleConnections()
	resp, err := client.Get(fmt.Sprintf("http://%s/bytes?n=%d", hostAddr, bulk))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != bulk {
		t.Fatalf("status %s, Content-Length %d", resp.Status, resp.ContentLength)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	if err != nil || n != bulk {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	want := sha256.New()
	io.Copy(want, &alphabetReader{n: bulk})
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("SHA-256 %s, want %s", hex.EncodeToString(got.Sum(nil)), hex.EncodeToString(want.Sum(nil)))
	}
}

// TestDownloadWithFaults: the stack recovers from loss, duplication,
// reordering and corruption injected between it and the TAP (the kernel
// has no netem here), and still delivers byte-exact data both ways.
func TestDownloadWithFaults(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	startCommand(t, ns, "--faults", "loss=1%,duplicate=1%,reorder=1%,corrupt=0.5%,seed=42")
	const n = 16 << 20
	client := linuxHTTPClient(ns)
	defer client.CloseIdleConnections()
	resp, err := client.Get(fmt.Sprintf("http://%s/bytes?n=%d", hostAddr, n))
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	m, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || m != n {
		t.Fatalf("download: %d of %d bytes: %v", m, n, err)
	}
	want := sha256.New()
	io.Copy(want, &alphabetReader{n: n})
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("download differs (SHA-256)")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	c, err := linuxDial(ctx, ns, "tcp4", hostAddr+":7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(50 * time.Second))
	sent := sha256.New()
	sendErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.TeeReader(newPatternReader(n/4, 5), sent))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		sendErr <- err
	}()
	echoed := sha256.New()
	if m, err := io.Copy(echoed, c); err != nil || m != n/4 {
		t.Fatalf("echo: %d of %d bytes: %v", m, n/4, err)
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(echoed.Sum(nil), sent.Sum(nil)) {
		t.Fatal("echo differs (SHA-256)")
	}
}

// alphabetReader yields the /bytes pattern: byte i is 'a'+i%26.
type alphabetReader struct{ i, n int64 }

func (r *alphabetReader) Read(b []byte) (int, error) {
	if r.i >= r.n {
		return 0, io.EOF
	}
	k := 0
	for ; k < len(b) && r.i < r.n; k++ {
		b[k] = byte('a' + r.i%26)
		r.i++
	}
	return k, nil
}

// linuxHTTPClient is an HTTP client whose sockets are kernel sockets inside ns.
func linuxHTTPClient(ns interface {
	Run(func() error) error
}) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Run(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	return &http.Client{Transport: tr, Timeout: 50 * time.Second}
}

// TestStackDialsLinux: the virtual host connects out to a Linux server on
// the bridge and they exchange data both ways.
func TestStackDialsLinux(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	h := startHost(t, ns)
	l := linuxListen(t, ns, bridgeAddr+":0")
	const n = 8 << 20

	// The Linux side echoes.
	served := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		if got := c.RemoteAddr().(*net.TCPAddr).IP.String(); got != hostAddr {
			served <- fmt.Errorf("linux sees peer %s, want %s", got, hostAddr)
			return
		}
		_, err = io.Copy(c, c)
		served <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(50 * time.Second))
	sent := sha256.New()
	sendErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.TeeReader(newPatternReader(n, 7), sent))
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		sendErr <- err
	}()
	got := sha256.New()
	m, err := io.Copy(got, c)
	if err != nil || m != n {
		t.Fatalf("read back %d of %d bytes: %v", m, n, err)
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatal("data came back different (SHA-256 differs)")
	}
}

// TestHTTPServerOnStack: net/http serving on the stack, a Linux-side client.
func TestHTTPServerOnStack(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	h := startHost(t, ns)
	l, err := h.Listen("tcp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s from %s: %d bytes", r.Method, r.URL.Path, strings.Split(r.RemoteAddr, ":")[0], len(body))
	})}
	go srv.Serve(l)
	defer srv.Close()
	client := linuxHTTPClient(ns)
	defer client.CloseIdleConnections()
	for i := range 5 {
		body := strings.Repeat("x", i*100000)
		resp, err := client.Post(fmt.Sprintf("http://%s:8080/post/%d", hostAddr, i), "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("POST /post/%d from %s: %d bytes", i, bridgeAddr, len(body))
		if string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// TestHTTPClientOnStack: the stack's net/http client fetches from a Linux
// HTTP server on the bridge.
func TestHTTPClientOnStack(t *testing.T) {
	needTools(t, "ip")
	ns := bridgeNS(t)
	h := startHost(t, ns)
	l := linuxListen(t, ns, bridgeAddr+":0")
	const size = 4 << 20
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Peer", r.RemoteAddr)
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.Copy(w, newPatternReader(size, 3))
	})}
	go srv.Serve(l)
	defer srv.Close()
	tr := &http.Transport{DialContext: h.DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 50 * time.Second}
	want := sha256.New()
	io.Copy(want, newPatternReader(size, 3))
	for range 3 {
		resp, err := client.Get("http://" + l.Addr().String() + "/file")
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.New()
		n, err := io.Copy(got, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			t.Fatalf("read %d of %d bytes: %v", n, size, err)
		}
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatal("body differs (SHA-256)")
		}
		if peer := resp.Header.Get("X-Peer"); !strings.HasPrefix(peer, hostAddr+":") {
			t.Errorf("server saw peer %q, want %s:*", peer, hostAddr)
		}
	}
}
