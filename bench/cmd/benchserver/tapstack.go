package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/tap"
)

// tapstackHost is the embedded host (with -stack tapstack), for -debug's
// /metrics.
var tapstackHost *host.Host

// tapstackListen embeds a tapstack host on a new TAP on bridge.
// With addr6 valid it is dual-stack (no SLAAC: the bench has no router).
// With tun it opens a TUN instead (an L3 interface, no bridge).
func tapstackListen(tapName, bridge string, addr, addr6 netip.Prefix, offload, tun bool) (func(int) (net.Listener, error), func(int) (net.PacketConn, error), func(), error) {
	dev, err := tap.Open(tapConfig(tapName, bridge, offload, tun))
	if err != nil {
		return nil, nil, nil, err
	}
	ifc := host.Interface{Name: tapName, Device: dev, Addr: addr}
	if addr6.IsValid() {
		ifc.Addrs = []netip.Prefix{addr6}
	}
	h, err := host.New(host.Config{Interfaces: []host.Interface{ifc}, NoSLAAC: true})
	if err != nil {
		return nil, nil, nil, err
	}
	tapstackHost = h
	listen := func(port int) (net.Listener, error) { return h.Listen("tcp", fmt.Sprintf(":%d", port)) }
	listenUDP := func(port int) (net.PacketConn, error) { return h.ListenPacket("udp", fmt.Sprintf(":%d", port)) }
	return listen, listenUDP, func() { h.Close() }, nil
}
