package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// TestUpInProcess runs `tapstack up` in-process on a TAP in a fresh
// namespace, talks to every service from Linux sockets, then stops it with
// a signal and expects exit status 0.
func TestUpInProcess(t *testing.T) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "10.0.0.1/24")
	sig := make(chan os.Signal, 1)
	pcapPath := filepath.Join(t.TempDir(), "tap0.pcap")
	outR, outW := io.Pipe()
	var stderr bytes.Buffer
	exit := make(chan int, 1)
	go func() {
		// tap.Open must run on a thread inside the namespace.
		ns.Run(func() error {
			exit <- run([]string{"up", "--tap", "tap0", "--bridge", "br0", "--addr", "10.0.0.2/24", "--mac", "02:00:00:00:00:02", "--pcap", pcapPath}, outW, &stderr, sig)
			return nil
		})
		outW.Close()
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		want := "tapstack: up on tap0 (bridge br0) as 10.0.0.2/24 fe80::ff:fe00:2/64 mac 02:00:00:00:00:02 mtu 1500 pcap " + pcapPath + " offload: rx only (--pcap), serving http:80 echo:7 discard:9 chargen:19 udp-echo:7"
		if !ok || l != want {
			t.Fatalf("up line %q (stderr %q), want %q", l, stderr.String(), want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no up line in 30s")
	}
	stopped := false
	defer func() {
		if !stopped {
			sig <- syscall.SIGTERM
			<-exit
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(port string) net.Conn {
		t.Helper()
		var c net.Conn
		if err := ns.Run(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp4", "10.0.0.2:"+port)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return c
	}

	// chargen: the first two lines.
	c := dial("19")
	r := bufio.NewReader(c)
	for i := range 2 {
		line, err := r.ReadString('\n')
		if err != nil || line != string(chargenLine(i)) {
			t.Fatalf("chargen line %d = %q, %v", i, line, err)
		}
	}
	c.Close()

	// discard: write, close, the connection ends cleanly.
	c = dial("9")
	if _, err := c.Write(bytes.Repeat([]byte("x"), 100000)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	if n, err := io.Copy(io.Discard, c); n != 0 || err != nil {
		t.Fatalf("discard sent %d bytes back, %v", n, err)
	}
	c.Close()

	// UDP echo.
	var uc net.Conn
	if err := ns.Run(func() (err error) {
		uc, err = net.Dial("udp4", "10.0.0.2:7")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	uc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := uc.Write([]byte("udp ping")); err != nil {
		t.Fatal(err)
	}
	ubuf := make([]byte, 100)
	if n, err := uc.Read(ubuf); err != nil || string(ubuf[:n]) != "udp ping" {
		t.Fatalf("udp echo: %q, %v", ubuf[:n], err)
	}
	uc.Close()

	// HTTP status page through a raw request.
	c = dial("80")
	io.WriteString(c, "GET / HTTP/1.0\r\nHost: 10.0.0.2\r\n\r\n")
	page, err := io.ReadAll(c)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HTTP/1.0 200 OK", "text/plain", "inet 10.0.0.2/24", "link/ether 02:00:00:00:00:02", "10.0.0.1 ", "LISTEN"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("status page lacks %q:\n%s", want, page)
		}
	}

	stopped = true
	sig <- syscall.SIGTERM
	select {
	case code := <-exit:
		if code != 0 || stderr.Len() != 0 {
			t.Fatalf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("no exit 30s after SIGTERM:\n%s", buf[:runtime.Stack(buf, true)])
	}
	if l := <-lines; !strings.HasPrefix(l, "tapstack: stopped") {
		t.Errorf("last line %q, want tapstack: stopped", l)
	}
	// The capture holds a pcap header and at least the frames above.
	capture, err := os.ReadFile(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(capture) < 24+10*(16+54) || !bytes.Equal(capture[:4], []byte{0xd4, 0xc3, 0xb2, 0xa1}) {
		t.Errorf("pcap file: %d bytes, starts % x", len(capture), capture[:min(len(capture), 4)])
	}
}
