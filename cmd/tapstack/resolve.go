package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/tapstack/tapstack/dns"
)

// How long `tapstack resolve` waits. The control handler gives the host's
// resolver its whole budget (every server, every try) plus
// resolveSlack, at most resolveMax, which stays under the control
// server's write timeout; the CLI waits resolveClientTimeout, longer
// than both, so the user sees the resolver's own error, never the
// plumbing's.
const (
	resolveSlack         = 2 * time.Second
	resolveMax           = 18 * time.Second
	resolveClientTimeout = 25 * time.Second
)

// resolverTries returns the tries per server and the wait of each try of
// r, with the dns package's defaults for zero fields.
func resolverTries(r *dns.Resolver) (tries int, each time.Duration) {
	tries, each = r.Attempts, r.Timeout
	if tries <= 0 {
		tries = dns.DefaultAttempts
	}
	if each <= 0 {
		each = dns.DefaultTimeout
	}
	return tries, each
}

// resolveBudget is how long the control handler lets r look a name up.
func resolveBudget(r *dns.Resolver) time.Duration {
	tries, each := resolverTries(r)
	d := time.Duration(max(len(r.Servers), 1)*tries)*each + resolveSlack
	return min(d, resolveMax)
}

// resolveError words a failed lookup of name for the operator: a
// timeout says which servers did not answer and how they were asked;
// other errors are the resolver's own.
func resolveError(name string, r *dns.Resolver, err error) string {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsTimeout || errors.Is(err, context.DeadlineExceeded) {
		var servers []string
		for _, s := range r.Servers {
			servers = append(servers, s.Addr().String())
		}
		tries, each := resolverTries(r)
		per := ""
		if len(servers) > 1 {
			per = " per server"
		}
		what := fmt.Sprintf("%d tries%s, %g s each", tries, per, each.Seconds())
		return fmt.Sprintf("resolve %s: no answer from %s (%s)", name, strings.Join(servers, ", "), what)
	}
	return fmt.Sprintf("resolve %s: %v", name, err)
}
