package integration

import (
	"bufio"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

	cmd := ns.Cmd(bin, "trace", "tcp port 80")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out lockedLines
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
				t.Errorf("tapstack trace: %v; stderr %s", err, stderr.String())
			}
		}
	}
	defer stop()
	waitTrace(t, &out, regexp.MustCompile(`^tracing packets matching tcp port 80\n`))

	if o, err := ns.Output("curl", "-sS", "--max-time", "20", "http://"+hostAddr+"/"); err != nil {
		t.Fatal(err, o)
	}
	waitTrace(t, &out, regexp.MustCompile(`TCP connection \S+ ↔ \S+: \S+ → (TIME_WAIT|CLOSED)`))
	stop()
	trace := out.String()
	t.Logf("tapstack trace 'tcp port 80':\n%s", trace)

	rest := trace
	for _, want := range []string{
		`ARP request: who has 10\.0\.0\.2\? tell 10\.0\.0\.1`,
		`ARP neighbour 10\.0\.0\.1 on tap0: NONE → STALE`,
		`ARP reply: 10\.0\.0\.2 is at 02:00:00:00:00:02`,
		`(?m)^in  tap0: from \S+ to 02:00:00:00:00:02 \(for us\)\n  IPv4 10\.0\.0\.1 → 10\.0\.0\.2, TTL 64, \d+ bytes.*\n  TCP \d+ → 80 \[SYN\] seq \d+ window \d+, options mss \d+`,
		`(?m)^out tap0: from 02:00:00:00:00:02 to \S+ \(unicast\)\n  IPv4 10\.0\.0\.2 → 10\.0\.0\.1.*\n  TCP 80 → \d+ \[SYN ACK\] seq \d+ ack \d+`,
		`TCP connection 10\.0\.0\.2:80 ↔ 10\.0\.0\.1:\d+: LISTEN → SYN_RECEIVED`,
		`SYN_RECEIVED → ESTABLISHED`,
		`  data: "GET / HTTP/1\.1"`,
		`TCP 80 → \d+ \[ACK PSH\].*\n  data: "HTTP/1\.1 200 OK"`,
		`\[(ACK )?(PSH )?FIN\]`,
		`→ (TIME_WAIT|CLOSED)`,
	} {
		re := regexp.MustCompile(want)
		loc := re.FindStringIndex(rest)
		if loc == nil {
			t.Fatalf("after the earlier steps, the trace lacks %s", want)
		}
		rest = rest[loc[1]:]
	}
}
