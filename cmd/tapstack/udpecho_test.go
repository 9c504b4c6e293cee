package main

import (
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/udp"
)

// TestRefuseEcho: the UDP echo service does not answer datagrams from
// well-known service ports (xinetd's bad_port_check: below 1024), sent to
// a broadcast or multicast address (fraggle), or from a source that is
// not one host.
func TestRefuseEcho(t *testing.T) {
	ap := netip.MustParseAddrPort
	me := ap("10.0.0.2:7")
	tests := []struct {
		name string
		m    udp.MsgInfo
		want udpRefusal
	}{
		{"ephemeral source", udp.MsgInfo{From: ap("10.0.0.1:40000"), To: me}, udpAnswer},
		{"source port 1024", udp.MsgInfo{From: ap("10.0.0.1:1024"), To: me}, udpAnswer},
		{"from echo 7 (echo loop)", udp.MsgInfo{From: ap("10.0.0.3:7"), To: me}, udpFromServicePort},
		{"from chargen 19", udp.MsgInfo{From: ap("10.0.0.3:19"), To: me}, udpFromServicePort},
		{"from DNS 53", udp.MsgInfo{From: ap("10.0.0.3:53"), To: me}, udpFromServicePort},
		{"from NTP 123", udp.MsgInfo{From: ap("10.0.0.3:123"), To: me}, udpFromServicePort},
		{"from port 1023", udp.MsgInfo{From: ap("10.0.0.3:1023"), To: me}, udpFromServicePort},
		{"from port 0", udp.MsgInfo{From: ap("10.0.0.3:0"), To: me}, udpFromServicePort},
		{"to limited broadcast", udp.MsgInfo{From: ap("10.0.0.1:40000"), To: ap("255.255.255.255:7"), Group: true}, udpToGroup},
		{"to directed broadcast", udp.MsgInfo{From: ap("10.0.0.1:40000"), To: ap("10.0.0.255:7"), Group: true}, udpToGroup},
		{"to multicast", udp.MsgInfo{From: ap("10.0.0.1:40000"), To: ap("224.0.0.1:7"), Group: true}, udpToGroup},
		{"from multicast", udp.MsgInfo{From: ap("224.0.0.1:40000"), To: me}, udpFromGroup},
		{"from limited broadcast", udp.MsgInfo{From: ap("255.255.255.255:40000"), To: me}, udpFromGroup},
		{"from 0.0.0.0", udp.MsgInfo{From: ap("0.0.0.0:40000"), To: me}, udpFromGroup},
	}
	for _, tt := range tests {
		if got := refuseEcho(tt.m); got != tt.want {
			t.Errorf("%s: refuseEcho = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// echoHost is a host on 10.0.0.N/24 running the UDP echo service on :7.
type echoHost struct {
	h  *host.Host
	pc *udp.Conn
}

func newEchoHost(t *testing.T, d link.Device, addr string) *echoHost {
	t.Helper()
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: d, Addr: netip.MustParsePrefix(addr)}}})
	if err != nil {
		t.Fatal(err)
	}
	pc, err := h.ListenPacket("udp", ":7")
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); serveUDPEcho(pc.(udpEchoConn), h.Stack().Counters()) }()
	t.Cleanup(func() {
		pc.Close()
		<-done
		h.Close()
	})
	return &echoHost{h: h, pc: pc.(*udp.Conn)}
}

func (e *echoHost) counter(name string) uint64 { return e.h.Stack().Counters().Value(name) }

// TestUDPEchoNoLoop: two tapstack hosts run UDP echo on :7 over one link.
// A datagram from B's echo port to A's (what a spoofer sends to start an
// echo loop, which used to run at 8,400 round trips per second) and one
// to the broadcast address are not answered; one from an ephemeral port
// is.
func TestUDPEchoNoLoop(t *testing.T) {
	da, db := link.Pipe(1500)
	a := newEchoHost(t, da, "10.0.0.1/24")
	b := newEchoHost(t, db, "10.0.0.2/24")

	// The control: a client on B's ephemeral port gets its echo.
	cli, err := b.h.ListenPacket("udp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	c := cli.(*udp.Conn)
	c.SetReadDeadline(time.Now().Add(10 * time.Second)) // failure guard only
	if _, err := c.WriteToUDPAddrPort([]byte("ping"), netip.MustParseAddrPort("10.0.0.1:7")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if n, from, err := c.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "ping" || from != netip.MustParseAddrPort("10.0.0.1:7") {
		t.Fatalf("echo from an ephemeral port: %q from %v, %v", buf[:n], from, err)
	}

	// Echo port to echo port: B's echo endpoint itself sends, as the
	// spoofed datagram would arrive.
	sentA := a.counter("udp.tx.datagrams")
	if _, err := b.pc.WriteToUDPAddrPort([]byte("loop?"), netip.MustParseAddrPort("10.0.0.1:7")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A to refuse the datagram", func() bool { return a.counter("svc.udp_echo.from_service_port") == 1 })

	// To the broadcast address, from an ephemeral port.
	c.SetBroadcast(true)
	if _, err := c.WriteToUDPAddrPort([]byte("everyone?"), netip.MustParseAddrPort("10.0.0.255:7")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A to refuse the broadcast", func() bool { return a.counter("svc.udp_echo.to_group") == 1 })

	// A refused both instead of answering: it sent nothing, and B's echo
	// got nothing to bounce.
	if got := a.counter("udp.tx.datagrams"); got != sentA {
		t.Errorf("A sent %d datagrams after the refused ones", got-sentA)
	}
	if got := b.counter("svc.udp_echo.from_service_port"); got != 0 {
		t.Errorf("B's echo received %d datagrams from A's echo port", got)
	}
	c.SetReadDeadline(time.Now()) // nothing is queued for the client either
	if _, _, err := c.ReadFromUDPAddrPort(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("client read %v, want no datagram", err)
	}
}
