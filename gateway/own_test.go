package gateway_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/gateway"
)

// A "guest" whose address is one of the gateway namespace's own (the
// host's bridge autoconfigured from the gateway's advertisements) is
// refused without a dial: relaying it through the host's sockets would
// route it back into the gateway, without end.
func TestOwnAddressIsNotRelayed(t *testing.T) {
	dialed := make(chan string, 4)
	guest, _ := pair(t, gateway.Config{
		OwnAddrs: func() ([]netip.Addr, error) { return []netip.Addr{netip.MustParseAddr("10.0.2.15")}, nil },
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed <- addr
			return nil, errors.New("must not dial")
		}})
	if _, err := dialGuest(t, guest, "tcp4", "192.0.2.81:80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial from an own address: %v, want ECONNREFUSED", err)
	}
	if len(dialed) != 0 {
		t.Errorf("the gateway dialed %s for its own address", <-dialed)
	}
}
