package integration

import (
	"bufio"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// lockedLines collects a command's output lines.
type lockedLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLines) add(s string) {
	l.mu.Lock()
	l.b.WriteString(s + "\n")
	l.mu.Unlock()
}

func (l *lockedLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// collect runs tapstack with args in ns, collecting its output lines,
// until the returned function interrupts it (also called at the end).
func collect(t *testing.T, ns *netnstest.NS, bin string, args ...string) (*lockedLines, func()) {
	t.Helper()
	cmd := ns.Cmd(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &lockedLines{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.add(sc.Text())
		}
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGINT)
			<-done
			if err := cmd.Wait(); err != nil {
				t.Errorf("tapstack %s: %v; stderr %s", args[0], err, stderr.String())
			}
		}
	}
	t.Cleanup(stop)
	return out, stop
}

// waitTrace polls out until it matches re, failing after 20 s.
func waitTrace(t *testing.T, out *lockedLines, re *regexp.Regexp) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !re.MatchString(out.String()); {
		if time.Now().After(deadline) {
			t.Fatalf("trace never matched %s:\n%s", re, out.String())
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

// TestTraceCurl: `tapstack trace 'tcp port 80'` during a Linux curl of the
// status page prints, in order, the ARP resolution (the first contact),
// the handshake with its state changes, the request, the response and the
// close, in words (issue 19, acceptance 1).
func TestTraceCurl(t *testing.T) {
	needTools(t, "curl")
	ns := bridgeNS(t)
	bin := binary(t)
	startTapstack(t, ns, "tapstack: up on tap0", "up", "--tap", "tap0", "--bridge", "br0",
		"--addr", hostAddr+"/24", "--mac", "02:00:00:00:00:02", "--no-slaac")

	out, stop := collect(t, ns, bin, "trace", "tcp port 80")
	defer stop()
	waitTrace(t, out, regexp.MustCompile(`^tracing packets matching tcp port 80\n`))

	if o, err := ns.Output("curl", "-sS", "--max-time", "20", "http://"+hostAddr+"/"); err != nil {
		t.Fatal(err, o)
	}
	waitTrace(t, out, regexp.MustCompile(`TCP connection \S+ ↔ \S+: \S+ → (TIME_WAIT|CLOSED)`))
	stop()
	trace := out.String()
	t.Logf("tapstack trace 'tcp port 80':\n%s", trace)

	// Each step's lines come after the previous step's, in any order
	// within the step: the client's handshake ACK and its request may
	// reach the TAP on two queues (the kernel learns the flow's queue from
	// our SYN-ACK while the ACK is already on its way), and two readers
	// then trace them at once.
	rest := trace
	for _, step := range [][]string{
		{`ARP request: who has 10\.0\.0\.2\? tell 10\.0\.0\.1`},
		{`ARP neighbour 10\.0\.0\.1 on tap0: NONE → STALE`},
		{`ARP reply: 10\.0\.0\.2 is at 02:00:00:00:00:02`},
		{`(?m)^in  tap0: from \S+ to 02:00:00:00:00:02 \(for us\)\n  IPv4 10\.0\.0\.1 → 10\.0\.0\.2, TTL 64, \d+ bytes.*\n  TCP \d+ → 80 \[SYN\] seq \d+ window \d+, options mss \d+`},
		{`(?m)^out tap0: from 02:00:00:00:00:02 to \S+ \(unicast\)\n  IPv4 10\.0\.0\.2 → 10\.0\.0\.1.*\n  TCP 80 → \d+ \[SYN ACK\] seq \d+ ack \d+`},
		{`TCP connection 10\.0\.0\.2:80 ↔ 10\.0\.0\.1:\d+: LISTEN → SYN_RECEIVED`, `SYN_RECEIVED → ESTABLISHED`, `  data: "GET / HTTP/1\.1"`},
		{`TCP 80 → \d+ \[ACK PSH\].*\n  data: "HTTP/1\.1 200 OK"`},
		{`\[(ACK )?(PSH )?FIN\]`},
		{`→ (TIME_WAIT|CLOSED)`},
	} {
		end := 0
		for _, want := range step {
			loc := regexp.MustCompile(want).FindStringIndex(rest)
			if loc == nil {
				t.Fatalf("after the earlier steps, the trace lacks %s", want)
			}
			end = max(end, loc[1])
		}
		rest = rest[end:]
	}
}

// TestUpTracePing: `tapstack up --trace icmp` prints, from the start, a
// Linux ping's echo request and our echo reply, with the ARP resolution
// before them, and before that the host's own conflict-detection probe
// (issue 19, up --trace).
func TestUpTracePing(t *testing.T) {
	needTools(t, "ping")
	ns := bridgeNS(t)
	out, stop := collect(t, ns, binary(t), "up", "--tap", "tap0", "--bridge", "br0",
		"--addr", hostAddr+"/24", "--mac", "02:00:00:00:00:02", "--no-slaac", "--trace", "icmp")
	waitTrace(t, out, regexp.MustCompile(`(?m)^tapstack: up on tap0`))
	if o, err := ns.Output("ping", "-c", "1", "-W", "5", hostAddr); err != nil {
		t.Fatal(err, o)
	}
	waitTrace(t, out, regexp.MustCompile(`ICMP echo reply`))
	stop()
	trace := out.String()
	t.Logf("tapstack up --trace icmp:\n%s", trace)
	rest := trace
	for _, want := range []string{
		`ARP probe: is anyone using 10\.0\.0\.2\?`, // from the start: conflict detection
		`ARP request: who has 10\.0\.0\.2\? tell 10\.0\.0\.1`,
		`(?m)^in  tap0: .*\(for us\)\n  IPv4 10\.0\.0\.1 → 10\.0\.0\.2, TTL 64, 84 bytes.*\n  ICMP echo request, id \d+ seq 1, 56 bytes of data`,
		`(?m)^out tap0: .*\(unicast\)\n  IPv4 10\.0\.0\.2 → 10\.0\.0\.1, TTL 64, 84 bytes.*\n  ICMP echo reply, id \d+ seq 1, 56 bytes of data`,
	} {
		loc := regexp.MustCompile(want).FindStringIndex(rest)
		if loc == nil {
			t.Fatalf("after the earlier steps, the trace lacks %s", want)
		}
		rest = rest[loc[1]:]
	}
	if strings.Contains(trace, "TCP ") {
		t.Errorf("the icmp filter let TCP through")
	}
}
