package host

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
)

// TestNetworkArgumentLikePackageNet: Listen, ListenPacket, Dial and
// DialContext take package net's (network, address): "tcp", "tcp4",
// "tcp6", "udp", "udp4" and "udp6" work, a "tcp6" or "udp6" dial to an
// IPv4 address fails with EAFNOSUPPORT, anything else (and a packet
// network to Listen, a stream one to ListenPacket) with a
// net.UnknownNetworkError, always inside a *net.OpError.
func TestNetworkArgumentLikePackageNet(t *testing.T) {
	a, b := pair(t)
	type call func(network string) (io.Closer, error)
	listen := func(network string) (io.Closer, error) { return b.Listen(network, ":7") }
	listenPacket := func(network string) (io.Closer, error) { return b.ListenPacket(network, ":7") }
	dial := func(network string) (io.Closer, error) { return a.Dial(network, "10.0.0.2:9") }
	dial6 := func(network string) (io.Closer, error) { return a.Dial(network, "[fd00::2]:9") }
	for _, tc := range []struct {
		name    string
		f       call
		network string
		want    error // nil: success; errUnknown: a net.UnknownNetworkError
	}{
		{"Listen tcp", listen, "tcp", nil},
		{"Listen tcp4", listen, "tcp4", nil},
		{"Listen tcp6", listen, "tcp6", nil},
		{"Listen udp", listen, "udp", errUnknown},
		{"Listen unix", listen, "unix", errUnknown},
		{"Listen empty", listen, "", errUnknown},
		{"ListenPacket udp", listenPacket, "udp", nil},
		{"ListenPacket udp4", listenPacket, "udp4", nil},
		{"ListenPacket udp6", listenPacket, "udp6", nil},
		{"ListenPacket tcp", listenPacket, "tcp", errUnknown},
		{"ListenPacket ip4:1", listenPacket, "ip4:1", errUnknown},
		{"Dial udp", dial, "udp", nil},
		{"Dial udp4", dial, "udp4", nil},
		{"Dial tcp6 to IPv6", dial6, "tcp6", syscall.ECONNREFUSED}, // it got there: nothing listens on 9
		{"Dial udp6 to IPv6", dial6, "udp6", nil},
		{"Dial tcp6 to IPv4", dial, "tcp6", syscall.EAFNOSUPPORT},
		{"Dial udp6 to IPv4", dial, "udp6", syscall.EAFNOSUPPORT},
		{"Dial sctp", dial, "sctp", errUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.f(tc.network)
			if c != nil {
				defer c.Close()
			}
			if tc.want == nil {
				if err != nil {
					t.Fatalf("%s: %v, want success", tc.network, err)
				}
				return
			}
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Net != tc.network {
				t.Fatalf("%s: %v (%T), want a *net.OpError with Net %q", tc.network, err, err, tc.network)
			}
			var ue net.UnknownNetworkError
			switch {
			case tc.want == errUnknown && !errors.As(err, &ue):
				t.Errorf("%s: %v, want a net.UnknownNetworkError", tc.network, err)
			case tc.want != errUnknown && !errors.Is(err, tc.want):
				t.Errorf("%s: %v, want %v", tc.network, err, tc.want)
			}
		})
	}
}

// errUnknown stands for "a net.UnknownNetworkError" in the table.
var errUnknown = errors.New("unknown network")
