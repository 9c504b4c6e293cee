package integration

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/tap"
	"github.com/tapstack/tapstack/tcp"
)

// ecnHost runs a host with tcp options opts on tap0 (with offloads) in ns.
func ecnHost(t *testing.T, ns *netnstest.NS, opts tcp.Options) *host.Host {
	t.Helper()
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tap0", Bridge: "br0"})
		return err
	}); err != nil {
		t.Fatalf("open tap0: %v", err)
	}
	h, err := host.New(host.Config{
		Interfaces: []host.Interface{{Name: "tap0", Device: dev, Addr: netip.MustParsePrefix(hostAddr + "/24")}},
		TCP:        opts,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TCPI_OPT_* bits of tcp_info.tcpi_options (linux/tcp.h).
const (
	tcpiOptTimestamps = 1
	tcpiOptECN        = 8
)

// linuxTCPOptions returns tcpi_options of a kernel socket (TCPI_OPT_*).
func linuxTCPOptions(t *testing.T, c net.Conn) uint8 {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Error(err)
		return 0
	}
	var opts uint8
	rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Error(err)
			return
		}
		opts = info.Options
	})
	return opts
}

// echoCheck writes 4 MiB through c and reads it back.
func echoCheck(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(60 * time.Second)) // a failure guard only
	want := make([]byte, 4<<20)
	io.ReadFull(newPatternReader(int64(len(want)), 5), want)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(want); errc <- err }()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echo differs")
	}
}

// TestTCPECNWithLinux: ECN (RFC 3168) is negotiated with the Linux kernel
// both ways: tapstack with RequestECN dials a Linux echo server (Linux
// accepts, tcp_ecn = 2), and a Linux client with tcp_ecn = 1 dials a
// tapstack listener (which accepts by default); the
// Linux sockets' TCP_INFO has the ECN option and data echoes intact.
func TestTCPECNWithLinux(t *testing.T) {
	ns := bridgeNS(t)
	if _, err := ns.Output("sysctl", "-w", "net.ipv4.tcp_ecn=1"); err != nil {
		t.Fatal(err)
	}
	h := ecnHost(t, ns, tcp.Options{RequestECN: true})

	ll := linuxListen(t, ns, bridgeAddr+":7007")
	linuxSide := make(chan uint8, 1)
	go func() {
		s, err := ll.Accept()
		if err != nil {
			linuxSide <- 0
			return
		}
		defer s.Close()
		linuxSide <- linuxTCPOptions(t, s)
		io.Copy(s, s)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", bridgeAddr+":7007")
	if err != nil {
		t.Fatal(err)
	}
	if info := c.(*tcp.Conn).Info(); !info.ECN {
		t.Errorf("tapstack dialing Linux: ECN not negotiated: %+v", info)
	}
	if opts := <-linuxSide; opts&tcpiOptECN == 0 || opts&tcpiOptTimestamps == 0 {
		t.Errorf("Linux server's TCP_INFO options %#x: want ECN and timestamps", opts)
	}
	echoCheck(t, c)
	c.Close()

	l, err := h.Listen("tcp", ":7008")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- s
		io.Copy(s, s)
		s.Close()
	}()
	lc, err := linuxDial(ctx, ns, "tcp4", hostAddr+":7008")
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	if info := s.(*tcp.Conn).Info(); !info.ECN {
		t.Errorf("Linux dialing tapstack: ECN not negotiated: %+v", info)
	}
	echoCheck(t, lc)
	if opts := linuxTCPOptions(t, lc); opts&tcpiOptECN == 0 || opts&tcpiOptTimestamps == 0 {
		t.Errorf("Linux client's TCP_INFO options %#x: want ECN and timestamps", opts)
	}
	t.Logf("ECN counters: %d negotiated", h.Stack().Counters().Get("tcp.ecn.negotiated").Load())
}
