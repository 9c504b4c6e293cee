package trace

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/link"
)

// pipeHosts returns two hosts joined by an in-memory wire: 10.0.0.1 and
// 10.0.0.2.
func pipeHosts(t *testing.T) (a, b *host.Host) {
	t.Helper()
	wa, wb := link.Pipe(1500)
	var err error
	if a, err = host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: wa, Addr: netip.MustParsePrefix("10.0.0.1/24")}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if b, err = host.New(host.Config{Interfaces: []host.Interface{{Name: "eth0", Device: wb, Addr: netip.MustParsePrefix("10.0.0.2/24")}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// TestEveryDropCounterHasReason: every counter a host registers that the
// trace prints (all but the traffic counts, which the frames show) prints
// its name and a one-line reason, the same text as /metrics' HELP line.
func TestEveryDropCounterHasReason(t *testing.T) {
	_, h := pipeHosts(t)
	s := h.Stack()
	sess, detach := Attach(s, nil)
	var names []string
	for _, cv := range s.Counters().Snapshot() {
		if Quiet(cv.Name) {
			continue
		}
		names = append(names, cv.Name)
	}
	if len(names) < 50 {
		t.Fatalf("only %d counters: %v", len(names), names)
	}
	p := printer{pass: true}
	for _, n := range names {
		var out bytes.Buffer
		s.Counters().Get(n).Inc()
		// Find this counter's event among any traffic's.
		for found := false; !found; {
			select {
			case r := <-sess.q:
				out.Reset()
				p.pass = true
				p.write(&out, &r)
				found = r.ev.Name == n
			default:
				t.Fatalf("%s: no event", n)
			}
		}
		help := host.CounterHelp(n)
		if help == "" || strings.HasSuffix(help, ": ") {
			t.Errorf("%s has no reason: %q", n, help)
		}
		want := "  counted " + n + ": " + help + "\n"
		if beforeStack(n) {
			want = "\nlink: a frame dropped, counted " + n + ": " + help + "\n"
		}
		if out.String() != want {
			t.Errorf("trace printed %q, want %q", out.String(), want)
		}
	}
	detach()
	if s.Tracer() != nil {
		t.Error("tracer still set after the last session ended")
	}
}

// TestTraceRefusedConnection: a SYN to a closed port shows, in order, the
// ARP resolution, the SYN, the no-endpoint drop with its reason and the
// RST sent back, on the answering host's trace.
func TestTraceRefusedConnection(t *testing.T) {
	a, b := pipeHosts(t)
	f, err := ParseFilter("host 10.0.0.1 and tcp port 81")
	if err != nil {
		t.Fatal(err)
	}
	sess, detach := Attach(b.Stack(), f)
	ctx, cancel := context.WithCancel(context.Background())
	var out stacktest.SyncBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		sess.Run(ctx, &out, nil)
	}()
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	if _, err := a.DialContext(dctx, "tcp", "10.0.0.2:81"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial of a closed port: %v", err)
	}
	want := []string{
		"ARP request: who has 10.0.0.2? tell 10.0.0.1",
		"TCP ",
		" → 81 [SYN] seq ",
		"  counted tcp.rx.no_endpoint: " + host.CounterHelp("tcp.rx.no_endpoint"),
		"TCP 81 → ",
		"[ACK RST]",
	}
	for deadline := time.Now().Add(10 * time.Second); !inOrder(out.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("trace lacks, in order, %q:\n%s", want, out.String())
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	detach()
	cancel()
	<-done
	t.Log(out.String())
}

func inOrder(s string, want []string) bool {
	for _, w := range want {
		i := strings.Index(s, w)
		if i < 0 {
			return false
		}
		s = s[i+len(w):]
	}
	return true
}
