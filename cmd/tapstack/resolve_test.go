package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dns"
)

// TestResolveTimeoutsNest: the CLI waits longer than the control server
// lets a handler write, which is longer than the handler lets the
// resolver run, which covers the resolver's own tries (2 x 5 s for one
// server): the resolver's error reaches the user, not "context deadline
// exceeded (Client.Timeout ...)".
func TestResolveTimeoutsNest(t *testing.T) {
	one := &dns.Resolver{Servers: []netip.AddrPort{netip.MustParseAddrPort("10.7.0.99:53")}}
	tries, each := resolverTries(one)
	if b := resolveBudget(one); b <= time.Duration(tries)*each {
		t.Errorf("handler budget %v does not cover the resolver's %d tries of %v", b, tries, each)
	}
	if resolveMax >= defaultControlLimits.write {
		t.Errorf("resolveMax %v is not under the control server's write timeout %v", resolveMax, defaultControlLimits.write)
	}
	if resolveClientTimeout <= defaultControlLimits.write {
		t.Errorf("the CLI's resolve timeout %v is not longer than the server's write timeout %v", resolveClientTimeout, defaultControlLimits.write)
	}
	many := &dns.Resolver{Servers: make([]netip.AddrPort, 5)}
	if b := resolveBudget(many); b != resolveMax {
		t.Errorf("budget for 5 silent servers %v, want the cap %v", b, resolveMax)
	}
}

// TestResolveError: a lookup nobody answered names the servers and how
// they were asked; other errors are the resolver's own.
func TestResolveError(t *testing.T) {
	one := &dns.Resolver{Servers: []netip.AddrPort{netip.MustParseAddrPort("10.7.0.99:53")}}
	two := &dns.Resolver{Servers: []netip.AddrPort{netip.MustParseAddrPort("10.7.0.99:53"), netip.MustParseAddrPort("10.7.0.98:53")}, Timeout: 1500 * time.Millisecond, Attempts: 3}
	timeout := &net.DNSError{Err: "i/o timeout", Name: "example.org", Server: "10.7.0.99:53", IsTimeout: true}
	for _, tc := range []struct {
		r    *dns.Resolver
		err  error
		want string
	}{
		{one, timeout, "resolve example.org: no answer from 10.7.0.99 (2 tries, 5 s each)"},
		{two, timeout, "resolve example.org: no answer from 10.7.0.99, 10.7.0.98 (3 tries per server, 1.5 s each)"},
		{one, fmt.Errorf("lookup: %w", context.DeadlineExceeded), "resolve example.org: no answer from 10.7.0.99 (2 tries, 5 s each)"},
		{one, &net.DNSError{Err: "no such host", Name: "example.org", Server: "10.7.0.99:53", IsNotFound: true}, "resolve example.org: lookup example.org on 10.7.0.99:53: no such host"},
		{one, errors.New("no DNS servers configured"), "resolve example.org: no DNS servers configured"},
	} {
		if got := resolveError("example.org", tc.r, tc.err); got != tc.want {
			t.Errorf("resolveError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
