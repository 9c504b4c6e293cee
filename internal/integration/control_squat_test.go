package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// The control socket against an unprivileged local user (issue 13,
// finding 5, acceptance 4): uid 65534 runs a small Python program inside
// the test's namespace (abstract socket names belong to the network
// namespace, so nothing is squatted outside it).

// nobodyScript is the unprivileged process. Modes:
//
//	serve NAME    listen on @NAME and answer every request with a forged table
//	bind NAME     bind @NAME without listening
//	flood NAME N  open N connections to @NAME, each sending 1,000,000 bytes
//	              of an unfinished header, then report and hold them
//
// serve and bind print their pid first; flood prints
// "done held=H refused=R" (refused: the server closed it). All wait for
// stdin to close.
const nobodyScript = `
import os, socket, sys, threading
mode, name = sys.argv[1], sys.argv[2]
addr = "\0" + name
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
if mode == "flood":
    pad = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 1000000
    held, refused, socks = 0, 0, []
    for i in range(int(sys.argv[3])):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(addr)
        socks.append(s)
        try:
            s.sendall(pad)
            held += 1
        except OSError:
            refused += 1
    print("done held=%d refused=%d" % (held, refused), flush=True)
    threading.Event().wait()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(addr)
if mode == "serve":
    s.listen(64)
print(os.getpid(), flush=True)
if mode == "bind":
    threading.Event().wait()
body = b"FORGED 10.0.0.66 ether 66:66:66:66:66:66 C tap0\n"
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            d = c.recv(4096)
            if not d:
                break
            data += d
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    except OSError:
        pass
    c.close()
`

// asNobody starts nobodyScript as uid/gid 65534 inside ns and returns the
// first line it prints; it is stopped when the test ends.
func asNobody(t *testing.T, ns *netnstest.NS, args ...string) string {
	t.Helper()
	needTools(t, "setpriv", "/usr/bin/python3")
	cmd := ns.Cmd("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
		"/usr/bin/python3", "-c", nobodyScript}, args...)...)
	cmd.Dir = "/"
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Scan()
		line <- sc.Text()
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		if l == "" {
			t.Fatalf("uid 65534 %v printed nothing; stderr %q", args, stderr.String())
		}
		return l
	case <-time.After(60 * time.Second):
		t.Fatalf("uid 65534 %v printed nothing in 60s; stderr %q", args, stderr.String())
	}
	return ""
}

// runCLI runs the tapstack binary as root inside ns (at most a minute).
func runCLI(t *testing.T, ns *netnstest.NS, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name(), binary(t)}, args...)...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Run()
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

// nobodyBinary is a copy of the tapstack binary that uid 65534 may run.
func nobodyBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tapstack")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestControlSquatterMakesUpFail: uid 65534 holding @tapstack/tap0 (as a
// listener, or bound without listening) makes root's `tapstack up` fail
// with one line naming its uid and pid and what to do.
func TestControlSquatterMakesUpFail(t *testing.T) {
	for _, mode := range []string{"serve", "bind"} {
		t.Run(mode, func(t *testing.T) {
			ns := bridgeNS(t)
			pid := asNobody(t, ns, mode, "tapstack/tap0")
			_, stderr, code := runCLI(t, ns, "up", "--tap", "tap0", "--bridge", "br0", "--addr", hostAddr+"/24", "--no-dad")
			want := fmt.Sprintf("tapstack: control socket @tapstack/tap0 is held by uid 65534 (pid %s), not by root or you: kill it or pick another TAP name\n", pid)
			if code != 1 || stderr != want {
				t.Fatalf("tapstack up with @tapstack/tap0 squatted by pid %s: exit %d, stderr %q; want exit 1 and %q", pid, code, stderr, want)
			}
			t.Logf("%s squatter: %s", mode, strings.TrimSpace(stderr))
		})
	}
}

// TestControlSquatterNeverAnswersRootCLI: with uid 65534 serving forged
// tables on @tapstack/tap0, root's status/arp/route never print them and
// say why in one line, and arp --flush is not faked; with the real host on
// tap1, the commands without --tap find it and skip the squatter.
func TestControlSquatterNeverAnswersRootCLI(t *testing.T) {
	ns := bridgeNS(t)
	pid := asNobody(t, ns, "serve", "tapstack/tap0")
	want := fmt.Sprintf("tapstack: @tapstack/tap0 is served by uid 65534 (pid %s), not by root or you: refusing to trust it\n", pid)
	refused := func(args ...string) {
		t.Helper()
		stdout, stderr, code := runCLI(t, ns, args...)
		if code != 1 || stdout != "" || stderr != want {
			t.Errorf("tapstack %v: exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout and %q", args, code, stdout, stderr, want)
		}
	}
	for _, args := range [][]string{
		{"status"}, {"arp"}, {"route"}, // the squatter is the only socket
		{"status", "--tap", "tap0"}, {"arp", "--tap", "tap0"}, {"route", "--tap", "tap0"},
		{"arp", "--tap", "tap0", "--flush"}, {"arp", "--tap", "tap0", "-d", "10.0.0.1"},
		{"resolve", "--tap", "tap0", "example.test"},
	} {
		refused(args...)
	}

	startTapstack(t, ns, "tapstack: up on tap1 (bridge br0) as 10.0.0.2/24",
		"up", "--tap", "tap1", "--bridge", "br0", "--addr", hostAddr+"/24", "--no-dad", "--arp", "10.0.0.7=02:00:00:00:00:07")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "tap1"},
		{[]string{"arp"}, "10.0.0.7                 ether   02:00:00:00:00:07   CM"},
		{[]string{"arp", "--flush"}, "flushed 0 entries"}, // static entries stay
		{[]string{"status", "--tap", "tap1"}, "tap1"},
	} {
		stdout, stderr, code := runCLI(t, ns, tt.args...)
		if code != 0 || stderr != "" || strings.Contains(stdout, "FORGED") || !strings.Contains(stdout, tt.want) {
			t.Errorf("tapstack %v with the real host on tap1: exit %d, stdout %q, stderr %q; want %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
	refused("status", "--tap", "tap0")
	refused("arp", "--tap", "tap0", "--flush")
}

// TestControlIdleConnectionsFromNobody: 200 connections from uid 65534 to
// a root host's control socket, each with a 1,000,000-byte unfinished
// header, raise the host's RSS by under 4 MB (they are closed at accept),
// and root's CLI still works meanwhile; uid 65534's own CLI is told in one
// line to run as root.
func TestControlIdleConnectionsFromNobody(t *testing.T) {
	ns := bridgeNS(t)
	_, pid := startTapstack(t, ns, "tapstack: up on tap0 (bridge br0) as 10.0.0.2/24",
		"up", "--tap", "tap0", "--bridge", "br0", "--addr", hostAddr+"/24", "--no-dad")
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != "tapstack" {
		t.Fatalf("pid %d is %q (%v), not tapstack", pid, comm, err)
	}
	// The CLI's path through the server runs once before the baseline.
	if stdout, stderr, code := runCLI(t, ns, "status"); code != 0 || !strings.Contains(stdout, "tap0") {
		t.Fatalf("tapstack status: exit %d, stderr %q", code, stderr)
	}
	before := rssKiB(t, pid)
	done := asNobody(t, ns, "flood", "tapstack/tap0", "200")
	after := rssKiB(t, pid)
	t.Logf("uid 65534: %s; tapstack RSS %d kB -> %d kB (+%d kB)", done, before, after, after-before)
	if done != "done held=0 refused=200" {
		t.Errorf("uid 65534's connections: %s, want all 200 refused at accept", done)
	}
	if after-before >= 4000 {
		t.Errorf("200 connections from uid 65534 raised tapstack's RSS by %d kB, want under 4 MB", after-before)
	}
	if stdout, stderr, code := runCLI(t, ns, "status"); code != 0 || !strings.Contains(stdout, "tap0") {
		t.Errorf("tapstack status with uid 65534's connections held: exit %d, stderr %q", code, stderr)
	}
	if stdout, stderr, code := runCLI(t, ns, "arp", "--flush"); code != 0 || !strings.HasPrefix(stdout, "flushed ") {
		t.Errorf("tapstack arp --flush with uid 65534's connections held: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	bin := nobodyBinary(t)
	cmd := ns.Cmd("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "arp", "--flush")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	want := fmt.Sprintf("tapstack: the host on tap0 runs as root (pid %d) and answers only root: run this command as root\n", pid)
	if code := cmd.ProcessState.ExitCode(); code != 1 || stdout.String() != "" || stderr.String() != want {
		t.Errorf("tapstack arp --flush as uid 65534: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout.String(), stderr.String(), want)
	}
}
