package main

import "github.com/tapstack/tapstack/tap"

// tapConfig is the TAP of the embedded tapstack server; offload asks for
// the virtio-net header with CSUM and TSO4.
func tapConfig(name, bridge string, offload bool) tap.Config {
	return tap.Config{Name: name, Bridge: bridge, NoOffload: !offload}
}
