package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/tap"
)

// tapstackListen embeds a tapstack host on a new TAP on bridge.
func tapstackListen(tapName, bridge string, addr netip.Prefix, offload bool) (func(int) (net.Listener, error), func(), error) {
	dev, err := tap.Open(tapConfig(tapName, bridge, offload))
	if err != nil {
		return nil, nil, err
	}
	h, err := host.New(host.Config{Interfaces: []host.Interface{{Name: tapName, Device: dev, Addr: addr}}})
	if err != nil {
		return nil, nil, err
	}
	listen := func(port int) (net.Listener, error) { return h.Listen("tcp", fmt.Sprintf(":%d", port)) }
	return listen, func() { h.Close() }, nil
}
