// Package deps pins the module's chosen dependencies while the packages that use them are written.
package deps

import (
	_ "github.com/google/gopacket/layers"
	_ "github.com/songgao/water"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
	_ "golang.org/x/sys/unix"
)
