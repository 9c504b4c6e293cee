package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// ConnectionAttemptDelay is the time Happy Eyeballs waits for a connection
// attempt before starting the next one (RFC 8305 section 5 recommends 250
// ms).
const ConnectionAttemptDelay = 250 * time.Millisecond

// errNoAddresses is DialHappyEyeballs' error for an empty address list.
var errNoAddresses = errors.New("no addresses to dial")

// InterleaveFamilies orders addrs for Happy Eyeballs (RFC 8305 section
// 4): IPv6 first, then the families alternate (IPv6, IPv4, IPv6, ...),
// each family keeping its own order. The result is a new slice.
func InterleaveFamilies(addrs []netip.Addr) []netip.Addr {
	var v6, v4 []netip.Addr
	for _, a := range addrs {
		if a.Is4() || a.Is4In6() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for i := 0; i < len(v6) || i < len(v4); i++ {
		if i < len(v6) {
			out = append(out, v6[i])
		}
		if i < len(v4) {
			out = append(out, v4[i])
		}
	}
	return out
}

// DialHappyEyeballs connects to port on one of addrs the Happy Eyeballs
// way (RFC 8305 section 5): the addresses are tried in InterleaveFamilies
// order (IPv6 first), one attempt started at a time; the next starts when
// the previous one fails, or when ConnectionAttemptDelay passes on clock
// (nil: the wall clock) without a connection, while earlier attempts go
// on. The first connection wins: the other attempts' context is cancelled
// and a connection one of them still makes is closed. Without a winner it
// returns the first attempt's error, or ctx's error when ctx ends first.
// dial must return when its context is cancelled.
//
// A host's DialContext calls it with the addresses of LookupNetIP and its
// own dialler:
//
//	addrs, err := r.LookupNetIP(ctx, "ip", name)
//	c, err := dns.DialHappyEyeballs(ctx, s.Clock(), addrs, 80, func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
//		return tcp.Dial(ctx, s, ap)
//	})
func DialHappyEyeballs(ctx context.Context, clock stack.Clock, addrs []netip.Addr, port uint16,
	dial func(context.Context, netip.AddrPort) (net.Conn, error)) (net.Conn, error) {
	if len(addrs) == 0 {
		return nil, errNoAddresses
	}
	if clock == nil {
		clock = stack.RealClock{}
	}
	order := InterleaveFamilies(addrs)
	actx, cancel := context.WithCancel(ctx)
	type result struct {
		c   net.Conn
		err error
	}
	// Buffered for every attempt, so that no attempt ever blocks on
	// sending its result; delay timers send their generation.
	results := make(chan result, len(order))
	delays := make(chan int, len(order))
	var timer stack.Timer
	next, running := 0, 0
	start := func() {
		ap := netip.AddrPortFrom(order[next], port)
		next++
		running++
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if next < len(order) {
			gen := next
			timer = clock.AfterFunc(ConnectionAttemptDelay, func() { delays <- gen })
		}
		go func() {
			c, err := dial(actx, ap)
			results <- result{c, err}
		}()
	}
	// finish cancels the losers and closes what they still connect.
	finish := func() {
		if timer != nil {
			timer.Stop()
		}
		cancel()
		go func(n int) {
			for range n {
				if r := <-results; r.c != nil {
					r.c.Close()
				}
			}
		}(running)
	}
	var first error
	start()
	for {
		select {
		case r := <-results:
			running--
			if r.err == nil {
				finish()
				return r.c, nil
			}
			if first == nil {
				first = r.err
			}
			switch {
			case next < len(order):
				start() // a failure starts the next attempt at once
			case running == 0:
				finish()
				return nil, first
			}
		case gen := <-delays:
			if gen == next && next < len(order) {
				start()
			}
		case <-ctx.Done():
			finish()
			return nil, ctx.Err()
		}
	}
}
