package tcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"syscall"
	"testing"
)

// A transparent proxy: connections to any address reach the callback,
// which accepts (here: echoes; a real proxy first dials ID().Local) or
// refuses them. In a real host, turn on ipv4's accept-any mode too
// (ipv4.Protocol.SetAcceptAnyDestination), or use host.InstallForwarders.
func ExampleNewForwarder() {
	tn := fwdNet(&testing.T{}) // A routes everything through B
	defer tn.close()

	_, err := NewForwarder(tn.b, ForwarderOptions{MaxPending: 128}, func(r *ForwarderRequest) {
		if r.ID().Local.Port() == 22 {
			r.Refuse() // RST, as a closed port
			return
		}
		c, err := r.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Println("accepted a connection to", c.LocalAddr())
		io.Copy(c, c)
	})
	if err != nil {
		panic(err)
	}

	c, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("192.0.2.80:80"))
	if err != nil {
		panic(err)
	}
	c.Write([]byte("hi"))
	buf := make([]byte, 2)
	io.ReadFull(c, buf)
	c.Close()
	fmt.Printf("echo %q\n", buf)

	_, err = Dial(context.Background(), tn.a, netip.MustParseAddrPort("192.0.2.80:22"))
	fmt.Println("port 22 refused:", errors.Is(err, syscall.ECONNREFUSED))
	// Output:
	// accepted a connection to 192.0.2.80:80
	// echo "hi"
	// port 22 refused: true
}
