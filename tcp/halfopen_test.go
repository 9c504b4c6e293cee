package tcp

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// TestHalfOpenFromLostHandshakeACKsEndsByKeepalive (RFC 9293 section
// 3.5.1, half-open connections; RFC 1122 4.2.3.6, keepalive): when every
// ACK that would complete the handshake is lost, the dialer is
// ESTABLISHED while the listener's half-open connection retransmits its
// SYN-ACK and gives up, without a RST (as Linux drops its request sock).
// A dialer that waits for the other end to speak first (a server-first
// protocol) would wait forever; with keepalive on, its first probe that
// gets through meets the listener, which answers with a RST, and the
// dialer's Read fails with ECONNRESET. internal/sim's server-first
// dialers rely on this (seed 2470 lost four such ACKs and the last
// SYN-ACK).
func TestHalfOpenFromLostHandshakeACKsEndsByKeepalive(t *testing.T) {
	synctest.Test(t, testHalfOpenFromLostHandshakeACKs)
}

func testHalfOpenFromLostHandshakeACKs(t *testing.T) {
	var lose atomic.Bool
	lose.Store(true)
	var lost atomic.Int64
	ab := linkFaults{drop: func(seg []byte) bool {
		// The dialer's ACKs: the handshake's and the keepalive probes'.
		if lose.Load() && len(seg) >= HeaderLen && Header(seg).Flags()&(FlagSYN|FlagFIN|FlagRST|FlagACK) == FlagACK {
			lost.Add(1)
			return true
		}
		return false
	}}
	tn := newTestNet(t, Options{}, ab, linkFaults{})
	defer tn.close()
	ln, err := Listen(tn.b, netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
			err = errors.New("the listener accepted a connection whose handshake never completed")
		}
		accepted <- err
	}()
	c, err := Dial(context.Background(), tn.a, netip.MustParseAddrPort("10.0.0.2:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetKeepAlive(true)
	c.SetKeepAlivePeriod(30 * time.Second)
	// The listener's SYN-ACKs (at 0, 1, 3, 7, 15 and 31 s) each get an
	// ACK that is lost; it gives up after the last one's timeout.
	time.Sleep(2 * time.Minute)
	synctest.Wait()
	if n := tn.pb.conns.len(); n != 0 {
		t.Fatalf("the listener's side holds %d connections after 2 minutes", n)
	}
	if st := c.e.c.state; st != StateEstablished {
		t.Fatalf("the dialer is %v, want ESTABLISHED (half-open)", st)
	}
	if lost.Load() < 6 {
		t.Fatalf("%d ACKs lost, want the handshake's and some probes'", lost.Load())
	}
	lose.Store(false)
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read on the half-open connection: %v, want ECONNRESET", err)
	}
	select {
	case err := <-accepted:
		t.Fatal(err)
	default:
	}
}
