package integration

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// Issue 16: "ICMP errors from the real destination reach the guest as
// ... unreachable". A Linux guest's first datagram to a closed port of
// the web namespace makes its connected socket report ECONNREFUSED (the
// gateway relays the port unreachable its own socket got, RFC 1122
// 3.2.2.1), and an open port still echoes.
func TestGatewayUDPPortUnreachableFirstDatagram(t *testing.T) {
	needTools(t, "ip")
	g := newGWTopo(t)
	echo := linuxListenUDP(t, g.web, gwWeb+":7")
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
	startTapstack(t, g.host, "tapstack: gateway on tap0", "gateway", "--tap", "tap0", "--bridge", "br0")
	exchange := func(port int) (string, error) {
		var got string
		err := g.guest.Run(func() error {
			c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(gwWeb), Port: port})
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(15 * time.Second)) // failure guard
			if _, err := c.Write([]byte("hello")); err != nil {
				return err
			}
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			got = string(buf[:n])
			return err
		})
		return got, err
	}
	if got, err := exchange(7); err != nil || got != "hello" {
		t.Fatalf("udp echo through the gateway: %q %v", got, err)
	}
	for i := range 3 { // each new flow's first datagram
		if _, err := exchange(9999); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("flow %d to a closed port: %v, want ECONNREFUSED on the first datagram", i, err)
		}
	}
}
