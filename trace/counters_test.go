package trace

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/stack"
)

// TestEveryDropCounterHasReason: each counter a host registers that the
// trace prints (not a traffic count) prints its name and a reason, the
// same text as /metrics' HELP line.
func TestEveryDropCounterHasReason(t *testing.T) {
	s := stack.New(stack.Options{})
	for _, n := range []string{"tcp.rx.bad_checksum", "link.rx.not_for_us", "ipv4.rx.ttl_exceeded", "arp.cache_full"} {
		s.Counters().Get(n)
	}
	sess, detach := Attach(s, nil)
	var names []string
	for _, cv := range s.Counters().Snapshot() {
		if Quiet(cv.Name) {
			continue
		}
		names = append(names, cv.Name)
		s.Counters().Get(cv.Name).Inc()
	}
	detach()
	var out bytes.Buffer
	p := printer{pass: true}
	for len(sess.q) > 0 {
		r := <-sess.q
		p.write(&out, &r)
	}
	for _, n := range names {
		help := host.CounterHelp(n)
		if help == "" {
			t.Errorf("%s has no reason", n)
		}
		if want := "counted " + n + ": " + help; !strings.Contains(out.String(), want) {
			t.Errorf("trace lacks %q in:\n%s", want, out.String())
		}
	}
	if s.Tracer() != nil {
		t.Error("tracer still set after the last session ended")
	}
}
