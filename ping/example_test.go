package ping_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/ping"
)

// Ping a peer from Go through the stack. (host.Host.Ping does the same.)
func ExampleOf() {
	wa, wb := link.Pipe(1500)
	a, _ := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: wa, Addr: netip.MustParsePrefix("10.0.0.1/24")}}})
	defer a.Close()
	b, _ := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: wb, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	defer b.Close()

	p, err := ping.Of(a.Stack())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rtt, err := p.Ping(ctx, netip.MustParseAddr("10.0.0.2"))
	fmt.Println(err == nil && rtt >= 0)
	// Output: true
}

// A Pinger with its own bounds.
func ExampleNew() {
	wa, wb := link.Pipe(1500)
	a, _ := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: wa, Addr: netip.MustParsePrefix("10.0.0.1/24")}}})
	defer a.Close()
	b, _ := host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: wb, Addr: netip.MustParsePrefix("10.0.0.2/24")}}})
	defer b.Close()

	p, err := ping.New(a.Stack(), ping.Options{MaxOutstanding: 4, Size: 1000})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = p.Ping(ctx, netip.MustParseAddr("10.0.0.2"))
	fmt.Println(err)
	// Output: <nil>
}
