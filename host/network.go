package host

import (
	"errors"
	"net"
)

// ErrIPv6NotWired is the error (inside a *net.OpError) of Listen,
// ListenPacket, Dial and DialContext for the networks "tcp6" and "udp6":
// the host speaks IPv4 only so far.
var ErrIPv6NotWired = errors.New("IPv6 is not wired into host yet: use tcp/tcp4 or udp/udp4 with an IPv4 address")

// checkNetwork checks a network argument as package net does: "tcp",
// "tcp4", "udp" and "udp4" are accepted (only those of transport when it
// is not empty), "tcp6" and "udp6" fail with ErrIPv6NotWired, anything
// else with a net.UnknownNetworkError; errors are *net.OpError of op.
func checkNetwork(op, network, transport string) error {
	var err error
	switch network {
	case "tcp", "tcp4", "udp", "udp4":
		if transport != "" && network[:3] != transport {
			err = net.UnknownNetworkError(network)
		}
	case "tcp6", "udp6":
		if transport != "" && network[:3] != transport {
			err = net.UnknownNetworkError(network)
		} else {
			err = ErrIPv6NotWired
		}
	default:
		err = net.UnknownNetworkError(network)
	}
	if err != nil {
		return &net.OpError{Op: op, Net: network, Err: err}
	}
	return nil
}
