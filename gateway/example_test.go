package gateway_test

import (
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"

	"github.com/tapstack/tapstack/gateway"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/tap"
)

// A user-mode network for the guests on br0, as `tapstack gateway` runs
// it: the router 10.0.2.2 (the host's loopback to the guests), DNS at
// 10.0.2.3, every guest flow relayed through this process's sockets, and
// host port 8080 forwarded to a guest's port 80.
func ExampleNew() {
	dev, err := tap.Open(tap.Config{Name: "tap0", Bridge: "br0"})
	if err != nil {
		log.Fatal(err)
	}
	h, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{Device: dev,
		Addr:  netip.MustParsePrefix("10.0.2.2/24"),
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.3/24")}}}})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	fwd, _ := gateway.ParseForward("tcp:8080=10.0.2.15:80")
	g, err := gateway.New(h, gateway.Config{
		Subnet:      netip.MustParsePrefix("10.0.2.0/24"),
		DNSUpstream: netip.MustParseAddrPort("192.0.2.53:53"),
		Ping:        gateway.DefaultPinger(),
		Forwards:    []gateway.Forward{fwd},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
}

// Pings are relayed through the process's ICMP sockets: an unprivileged
// datagram socket when net.ipv4.ping_group_range allows the process's
// group, else a raw one; a Pinger can insist on the unprivileged kind.
func ExampleListenICMPDatagram() {
	p := &gateway.Pinger{Listen: func(network string) (net.PacketConn, bool, error) {
		c, err := gateway.ListenICMPDatagram(network)
		return c, false, err
	}}
	_ = gateway.Config{Subnet: netip.MustParsePrefix("10.0.2.0/24"), Ping: p}
}
