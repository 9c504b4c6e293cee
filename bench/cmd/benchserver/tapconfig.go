package main

import "github.com/tapstack/tapstack/tap"

// tapConfig is the TAP of the embedded tapstack server; offload asks for
// the virtio-net header with CSUM and TSO4.
// With tun set it is a TUN (bare IP packets, no bridge).
func tapConfig(name, bridge string, offload, tun bool) tap.Config {
	if tun {
		return tap.Config{Name: name, Mode: tap.TUN, NoOffload: !offload}
	}
	return tap.Config{Name: name, Bridge: bridge, NoOffload: !offload}
}
