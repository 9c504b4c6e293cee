package udp_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/udp"
)

// A transparent UDP proxy: the first datagram of each flow to any address
// reaches the callback, which accepts it as a connected Conn from the
// original destination (here: answers it; a real proxy relays to
// ID().Local) or refuses it (ICMP port unreachable).
func ExampleNewForwarder() {
	client := newHost(&testing.T{}, nil, udp.Options{}, "10.0.0.1/24")
	proxy := newHost(&testing.T{}, nil, udp.Options{}, "10.0.0.2/24")
	client.ip.peer, proxy.ip.peer = proxy.ip, client.ip
	defer client.s.Close()
	defer proxy.s.Close()
	client.s.AddRoute(stack.RouteEntry{Dst: netip.MustParsePrefix("0.0.0.0/0"), NIC: client.nic})

	f, err := udp.NewForwarder(proxy.s, udp.ForwarderOptions{MaxFlows: 1024}, func(r *udp.ForwarderRequest) {
		c, err := r.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		c.Write([]byte("answer to " + string(buf[:n])))
		// The flow closes after ForwarderOptions.IdleTimeout, or now:
		c.Close()
	})
	if err != nil {
		panic(err)
	}
	defer f.Close()

	c, _ := udp.Dial(context.Background(), client.s, netip.MustParseAddrPort("192.0.2.53:53"))
	defer c.Close()
	c.Write([]byte("query"))
	buf := make([]byte, 512)
	n, from, _ := c.ReadFromUDPAddrPort(buf)
	fmt.Printf("%s from %v\n", buf[:n], from)
	// Output: answer to query from 192.0.2.53:53
}
