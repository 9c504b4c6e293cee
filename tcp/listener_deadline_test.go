package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// wantAcceptTimeout checks that err is Accept's deadline error, as
// net.TCPListener returns it: a *net.OpError whose Timeout is true,
// wrapping os.ErrDeadlineExceeded.
func wantAcceptTimeout(t *testing.T, err error) {
	t.Helper()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Accept: %v, want a net.Error with Timeout() true wrapping os.ErrDeadlineExceeded", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "accept" {
		t.Fatalf("Accept: %v, want a *net.OpError of op accept", err)
	}
}

// TestListenerSetDeadline: Listener.SetDeadline behaves like
// net.TCPListener's. A deadline in the past fails Accept at once (and
// wakes an Accept already waiting), a zero deadline clears it, a
// connection that arrives meanwhile is still accepted afterwards, and a
// future deadline fails a waiting Accept when it passes.
func TestListenerSetDeadline(t *testing.T) {
	tn := newTestNet(t, Options{}, linkFaults{}, linkFaults{})
	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:8080"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	past := time.Now().Add(-time.Second)

	// A deadline in the past: Accept fails at once.
	if err := ln.SetDeadline(past); err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	wantAcceptTimeout(t, err)
	if c != nil {
		t.Errorf("Accept returned the net.Conn %#v with its error, want nil", c)
	}

	// An Accept waiting without a deadline is woken by one in the past.
	if err := ln.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if c != nil {
			c.Close()
		}
		res <- err
	}()
	if err := ln.SetDeadline(past); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		wantAcceptTimeout(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting Accept was not woken by a deadline in the past")
	}

	// A connection queued while the deadline has passed is accepted once
	// the deadline is cleared.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, err := Dial(ctx, tn.a, netip.MustParseAddrPort("10.0.0.2:8080"))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = ln.Accept()
	wantAcceptTimeout(t, err)
	if err := ln.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept after clearing the deadline: %v", err)
	}
	sc.Close()

	// A future deadline fails a waiting Accept when it passes (the wall
	// clock, as for connections; nothing here depends on how long).
	if err := ln.SetDeadline(time.Now().Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err = ln.Accept()
	wantAcceptTimeout(t, err)

	// After Close, SetDeadline fails with net.ErrClosed.
	ln.Close()
	if err := ln.SetDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline after Close: %v, want net.ErrClosed", err)
	}
}

// Accept with a deadline, as with net.TCPListener: a timeout is told
// apart from a closed listener by net.Error's Timeout.
func ExampleListener_SetDeadline() {
	tn := exampleNet()
	defer tn.close()
	ln, err := Listen(tn.b, netip.MustParseAddrPort("0.0.0.0:7"))
	if err != nil {
		panic(err)
	}
	defer ln.Close()

	ln.SetDeadline(time.Now()) // e.g. time.Now().Add(5 * time.Second)
	_, err = ln.Accept()
	var ne net.Error
	fmt.Println(err, errors.As(err, &ne) && ne.Timeout())
	// Output: accept tcp 0.0.0.0:7: i/o timeout true
}
