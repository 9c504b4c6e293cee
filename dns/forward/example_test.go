package forward_test

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/tapstack/tapstack/dns/forward"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/link"
)

// A gateway serving DNS at 10.0.2.3 from the host's resolver.
func ExampleNew() {
	dev, _ := link.Pipe(1500) // a TAP in real life
	h, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{
		Device: dev, Addr: netip.MustParsePrefix("10.0.2.2/24"),
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.3/24")},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	f, err := forward.New(h.Stack(), forward.Config{
		Addr:     netip.MustParseAddrPort("10.0.2.3:53"),
		Resolver: net.DefaultResolver,
		Hosts:    map[string][]netip.Addr{"gateway.": {netip.MustParseAddr("10.0.2.2")}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := f.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	fmt.Println("serving DNS on", f.Config().Addr, "with", f.Config().MaxInFlight, "lookups at most")
	// Output: serving DNS on 10.0.2.3:53 with 64 lookups at most
}
