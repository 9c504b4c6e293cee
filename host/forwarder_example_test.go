package host_test

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/tcp"
)

// A tun2socks-style proxy: a client whose default gateway is the proxy
// host reaches any address; the proxy's callback gets each connection with
// its original destination. A real proxy dials r.ID().Local first and
// refuses when that fails, then copies both ways.
func ExampleHost_InstallForwarders() {
	wa, wb := link.Pipe(1500)
	client, _ := host.New(host.Config{
		Interfaces: []host.Interface{{Name: "eth0", Device: wa, Addr: netip.MustParsePrefix("10.0.0.1/24")}},
		Gateway:    netip.MustParseAddr("10.0.0.2"),
	})
	defer client.Close()
	proxy, _ := host.New(host.Config{
		Interfaces: []host.Interface{{Name: "eth0", Device: wb, Addr: netip.MustParsePrefix("10.0.0.2/24")}},
	})
	defer proxy.Close()

	fwd, err := proxy.InstallForwarders(host.ForwarderConfig{
		TCP: func(r *tcp.ForwarderRequest) {
			c, err := r.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "hello from %v\n", r.ID().Local)
		},
	})
	if err != nil {
		panic(err)
	}
	defer fwd.Close()

	c, err := client.Dial("tcp", "93.184.215.14:80")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	b, _ := io.ReadAll(c)
	fmt.Print(string(b))
	// Output: hello from 93.184.215.14:80
}

// Ping from Go.
func ExampleHost_Ping() {
	wa, wb := link.Pipe(1500)
	a, _ := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: wa, Addr: netip.MustParsePrefix("10.0.0.1/24")}}})
	defer a.Close()
	b, _ := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: wb, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	defer b.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rtt, err := a.Ping(ctx, netip.MustParseAddr("10.0.0.2"))
	if err != nil {
		panic(err)
	}
	_ = rtt // the round-trip time on the stack's clock
	fmt.Println("reply")
	// Output: reply
}
