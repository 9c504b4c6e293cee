package host

import (
	"net"
)

// checkNetwork checks a network argument as package net does: "tcp",
// "tcp4", "tcp6", "udp", "udp4" and "udp6" are accepted (only those of
// transport when it is not empty), anything else fails with a
// net.UnknownNetworkError inside a *net.OpError of op.
func checkNetwork(op, network, transport string) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		if transport == "" || network[:3] == transport {
			return nil
		}
	}
	return &net.OpError{Op: op, Net: network, Err: net.UnknownNetworkError(network)}
}
