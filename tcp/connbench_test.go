package tcp

import (
	"context"
	"net/netip"
	"testing"
)

// BenchmarkConnectionSetup is issue 20's connection rate row in
// miniature: each op dials a listener over the fake wire, accepts,
// exchanges one byte each way and closes both ends (the dialer first, so
// TIME_WAIT is on its side, as with an HTTP client). allocs/op is what one
// connection costs the two stacks and the test's goroutine.
func BenchmarkConnectionSetup(b *testing.B) {
	tn := newTestNet(b, Options{}, linkFaults{}, linkFaults{})
	defer tn.close()
	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:80"))
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 1)
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				done <- nil
				return
			}
			if _, err := c.Read(buf); err != nil {
				done <- err
				return
			}
			c.Write(buf)
			c.Close()
		}
	}()
	dst := netip.MustParseAddrPort("10.0.0.2:80")
	buf := make([]byte, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := Dial(context.Background(), tn.a, dst)
		if err != nil {
			b.Fatal(err)
		}
		c.Write(buf)
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
	b.StopTimer()
	ln.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
