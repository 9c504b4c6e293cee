package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/trace"
)

const traceHelp = `Usage: tapstack trace [--tap NAME] [FILTER]

Prints each packet of the running host passing FILTER as it happens, one short
paragraph per frame, layer by layer: the interface and what the link layer
decided, ARP, IPv4/IPv6 (TTL, fragments), ICMP, UDP, TCP (flags, seq/ack,
window, options, the first line of text data), the route chosen, the state
changes it caused (TCP connections, ARP neighbour entries) and every counted
drop with the counter's name and its reason. Until interrupted.

FILTER takes tcpdump-like words: [src|dst] host ADDR, [src|dst] port N, tcp,
udp, icmp, icmp6, arp, ip, ip6, vlan N, joined with and, or, not and
parentheses, e.g. 'host 10.0.0.1 and tcp port 80'. ARP counts as part of the
journey of the IPv4 packets it resolves: port and protocol words keep it;
'not arp' hides it. --tap picks the host when several run.
`

// parseTraceFilter parses a trace filter; "all" and "" match everything.
func parseTraceFilter(expr string) (*trace.Filter, error) {
	if strings.TrimSpace(expr) == "all" {
		expr = ""
	}
	f, err := trace.ParseFilter(expr)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return f, nil
}

// traceTo prints the journeys of s's packets passing f to w until the
// returned function is called (tapstack up --trace).
func traceTo(s *stack.Stack, f *trace.Filter, w io.Writer) func() {
	sess, detach := trace.Attach(s, f)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sess.Run(ctx, w, nil)
	}()
	return func() {
		detach()
		cancel()
		<-done
	}
}

// serveTrace streams the journeys of the host's packets passing the
// filter ?f= as a chunked response, until the client goes away.
func serveTrace(w http.ResponseWriter, r *http.Request, h *host.Host) {
	f, err := parseTraceFilter(r.URL.Query().Get("f"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	// A trace lasts as long as its reader: the server's read deadline
	// would end it (the request context), its write deadline cut it.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "tracing %s\n", describeFilter(f))
	rc.Flush()
	sess, detach := trace.Attach(h.Stack(), f)
	defer detach()
	sess.Run(r.Context(), w, func() { rc.Flush() })
}

func describeFilter(f *trace.Filter) string {
	if f.String() == "" {
		return "every packet"
	}
	return "packets matching " + f.String()
}

// runTrace is `tapstack trace [--tap NAME] [FILTER]`: each packet's
// journey through a running host, in words, as it happens.
func runTrace(args []string, stdout io.Writer, signals <-chan os.Signal) error {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	tap := fs.String("tap", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%s", flagMessage("trace", fs, err))
	}
	expr := strings.Join(fs.Args(), " ")
	if _, err := parseTraceFilter(expr); err != nil {
		return err
	}
	if *tap != "" {
		if err := checkIfName("--tap", *tap); err != nil {
			return err
		}
	}
	addr, err := findHost(*tap)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-signals:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://tapstack/trace?f="+url.QueryEscape(expr), nil)
	if err != nil {
		return err
	}
	tapName := strings.TrimPrefix(addr, controlPrefix)
	resp, err := controlClient(addr, 0).Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("no tapstack host on %s in this network namespace", tapName)
		}
		return fmt.Errorf("talking to tapstack on %s: %v", tapName, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return errors.New(strings.TrimSpace(string(b)))
	}
	_, err = io.Copy(stdout, resp.Body)
	if ctx.Err() != nil {
		return nil // interrupted: the normal end of a trace
	}
	return err
}
