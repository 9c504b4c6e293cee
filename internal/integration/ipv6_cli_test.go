package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// The IPv6 side of the command against Linux (issue 14, acceptance 1, 2
// and 4): `tapstack up` with an IPv6 --addr on a bridge, SLAAC from radvd
// through a Linux router, and duplicate address detection refusing a
// second host.

const (
	hostAddr6   = "fd00::2"
	bridgeAddr6 = "fd00::1"
	hostMAC     = "02:00:00:00:00:02"
	hostLL      = "fe80::ff:fe00:2" // EUI-64 of hostMAC
)

// upProcess is a running `tapstack up` whose later stdout lines (after
// the up line) can be waited for.
type upProcess struct {
	line  string
	lines chan string
}

// startUp6 runs `tapstack up` in ns like startTapstack, but keeps its
// stdout lines after the up line for the test (waitLine).
func startUp6(t *testing.T, ns *netnstest.NS, want string, args ...string) *upProcess {
	t.Helper()
	cmd := ns.Cmd(binary(t), args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // nobody waits: drop, never block tapstack
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		for range lines {
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("tapstack exited with %v; stderr: %s", err, stderr.String())
		} else if stderr.Len() > 0 {
			t.Errorf("tapstack wrote to stderr: %s", stderr.String())
		}
	})
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, want) {
			t.Fatalf("tapstack did not come up: first line %q, want %q; stderr %q", line, want, stderr.String())
		}
		t.Log(line)
		return &upProcess{line: line, lines: lines}
	case <-time.After(30 * time.Second):
		t.Fatalf("tapstack printed no up line in 30s; stderr %q", stderr.String())
	}
	return nil
}

// waitLine waits at most bound for a stdout line matching re.
func (p *upProcess) waitLine(t *testing.T, re *regexp.Regexp, bound time.Duration) []string {
	t.Helper()
	deadline := time.After(bound)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("tapstack ended before printing a line like %v", re)
			}
			t.Log(line)
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("tapstack printed no line like %v in %v", re, bound)
		}
	}
}

// addr6 adds an IPv6 address to dev in ns without duplicate address
// detection (nodad), so it is usable at once.
func addr6(t *testing.T, ns *netnstest.NS, cidr, dev string) {
	t.Helper()
	if out, err := ns.Output("ip", "-6", "addr", "add", cidr, "dev", dev, "nodad"); err != nil {
		t.Fatalf("ip -6 addr add %s: %v\n%s", cidr, err, out)
	}
}

// pingUntil pings from ns until one answer comes (the bridge port and
// neighbour discovery settle), at most bound.
func pingUntil(t *testing.T, ns *netnstest.NS, bound time.Duration, args ...string) string {
	t.Helper()
	var out string
	var err error
	if !poll(bound, func() bool {
		out, err = ns.Output("ping", append([]string{"-c", "1", "-W", "1"}, args...)...)
		return err == nil
	}) {
		t.Fatalf("ping %v: no answer in %v: %v\n%s", args, bound, err, out)
	}
	return out
}

// TestIPv6CLIBridge is acceptance 1: a dual-stack `tapstack up` on a
// bridge answers ping -6 on its global and link-local addresses, large
// pings fragmented both ways, curl -6, 64 MiB through echo over IPv6
// byte-exact, and Linux sees it REACHABLE.
func TestIPv6CLIBridge(t *testing.T) {
	needTools(t, "ip", "ping", "curl")
	ns := bridgeNS(t)
	addr6(t, ns, bridgeAddr6+"/64", "br0")
	p := startUp6(t, ns, "tapstack: up on tap0 (bridge br0) as 10.0.0.2/24 fd00::2/64 "+hostLL+"/64 mac "+hostMAC+" mtu 1500",
		"up", "--tap", "tap0", "--bridge", "br0", "--addr", "10.0.0.2/24", "--addr", hostAddr6+"/64", "--mac", hostMAC, "--gateway", "10.0.0.1", "--gateway", "fe80::1")
	if !strings.Contains(p.line, " gateway 10.0.0.1,fe80::1%tap0 ") {
		t.Errorf("up line lacks both gateways: %q", p.line)
	}

	pingUntil(t, ns, 10*time.Second, "-6", hostAddr6)
	pingUntil(t, ns, 10*time.Second, "-4", "10.0.0.2") // for the ARP side of tapstack neigh
	if out, err := ns.Output("ping", "-6", "-c", "2", "-W", "2", hostLL+"%br0"); err != nil {
		t.Fatalf("ping the link-local address: %v\n%s", err, out)
	}
	// 4000 bytes of payload: Linux fragments the request, tapstack the
	// reply (both 1500-byte links).
	out, err := ns.Output("ping", "-6", "-c", "2", "-W", "2", "-s", "4000", hostAddr6)
	if err != nil || !strings.Contains(out, "4008 bytes from fd00::2") {
		t.Fatalf("ping -6 -s 4000: %v\n%s", err, out)
	}
	// Right after traffic, Linux has confirmed us.
	var neigh string
	if !poll(5*time.Second, func() bool {
		neigh, _ = ns.Output("ip", "-6", "neigh", "show", hostAddr6, "dev", "br0")
		return strings.Contains(neigh, "lladdr "+hostMAC) && strings.Contains(neigh, "REACHABLE")
	}) {
		t.Errorf("ip -6 neigh does not show tapstack REACHABLE: %q", neigh)
	}
	t.Logf("ip -6 neigh (Linux): %s", strings.TrimSpace(neigh))

	out, err = ns.Output("curl", "-6", "-sS", "--max-time", "10", "http://[fd00::2]/")
	if err != nil || !strings.Contains(out, "inet6 fd00::2/64 scope global") {
		t.Fatalf("curl -6: %v\n%s", err, out)
	}

	// 64 MiB through echo:7 over IPv6, SHA-256 both ways.
	const bulk6 = 64 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := linuxDial(ctx, ns, "tcp6", "[fd00::2]:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	sent := sha256.New()
	sendErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.TeeReader(newPatternReader(bulk6, 6), sent))
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		sendErr <- err
	}()
	got := sha256.New()
	n, err := io.Copy(got, c)
	if err != nil {
		t.Fatalf("reading the echo after %d bytes: %v", n, err)
	}
	if err := <-sendErr; err != nil {
		t.Fatalf("sending: %v", err)
	}
	if n != bulk6 || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("echo over IPv6 returned %d bytes (sent %d), SHA-256 equal: %v", n, bulk6, bytes.Equal(got.Sum(nil), sent.Sum(nil)))
	}

	// tapstack's own tables.
	out, err = ns.Output(binary(t), "neigh")
	t.Logf("tapstack neigh:\n%s", out)
	if err != nil || !regexp.MustCompile(`(?m)^10\.0\.0\.1 dev tap0 lladdr \S+ (REACHABLE|STALE|DELAY|PROBE)$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^fd00::1 dev tap0 lladdr \S+ (REACHABLE|STALE|DELAY|PROBE)$`).MatchString(out) ||
		strings.Index(out, "10.0.0.1 ") > strings.Index(out, "fd00::1 ") {
		t.Errorf("tapstack neigh: %v: want 10.0.0.1 then fd00::1 with lladdr and a NUD state:\n%s", err, out)
	}
	out6, err := ns.Output(binary(t), "neigh", "-6")
	if err != nil || strings.Contains(out6, "10.0.0.1") || !strings.Contains(out6, "fd00::1 dev tap0") {
		t.Errorf("tapstack neigh -6: %v\n%s", err, out6)
	}
	out, err = ns.Output(binary(t), "route")
	t.Logf("tapstack route:\n%s", out)
	for _, want := range []string{
		"10.0.0.0/24 dev tap0 proto kernel scope link src 10.0.0.2\n",
		"default via 10.0.0.1 dev tap0\n",
		"fd00::/64 dev tap0 proto kernel metric 256 pref medium\n",
		"fe80::/64 dev tap0 proto kernel metric 256 pref medium\n",
		"default via fe80::1 dev tap0 metric 1024 pref medium\n",
	} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("tapstack route lacks %q (%v)", want, err)
		}
	}
	if i4, i6 := strings.Index(out, "10.0.0.0/24"), strings.Index(out, "fd00::/64"); i4 > i6 {
		t.Errorf("tapstack route: IPv4 routes do not come first:\n%s", out)
	}
	out4, err := ns.Output(binary(t), "route", "-4")
	if err != nil || strings.Contains(out4, "fd00") || !strings.Contains(out4, "10.0.0.0/24") {
		t.Errorf("tapstack route -4: %v\n%s", err, out4)
	}
}

// TestIPv6CLISLAACFromRadvd is acceptance 2: radvd on a Linux router
// advertises fd00:1::/64 on the bridge; tapstack forms its SLAAC address
// and default route, says so in one line, shows them in `tapstack route`,
// and is reached through the router from a server namespace behind it
// (ping and curl of tapstack's SLAAC address, whose replies need the
// learnt default route).
func TestIPv6CLISLAACFromRadvd(t *testing.T) {
	needTools(t, "ip", "ping", "curl", "radvd")
	r := bridgeNS(t) // the Linux router: br0 towards tapstack
	addr6(t, r, "fd00:1::1/64", "br0")
	if out, err := r.Output("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatalf("sysctl: %v\n%s", err, out)
	}
	// The far side: namespace s behind the router on a veth pair.
	s := netnstest.New(t)
	if out, err := exec.Command("ip", "-n", r.Name(), "link", "add", "vr", "type", "veth", "peer", "name", "vs", "netns", s.Name()).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v\n%s", err, out)
	}
	addr6(t, r, "fd00:2::1/64", "vr")
	addr6(t, s, "fd00:2::2/64", "vs")
	for _, step := range []struct {
		ns   *netnstest.NS
		link string
	}{{r, "vr"}, {s, "vs"}} {
		if err := step.ns.SetUp(step.link); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := s.Output("ip", "-6", "route", "add", "default", "via", "fd00:2::1"); err != nil {
		t.Fatalf("route in s: %v\n%s", err, out)
	}

	dir := t.TempDir()
	conf := filepath.Join(dir, "radvd.conf")
	if err := os.WriteFile(conf, []byte(`interface br0 {
	AdvSendAdvert on;
	MinRtrAdvInterval 3;
	MaxRtrAdvInterval 4;
	prefix fd00:1::/64 { };
};
`), 0o644); err != nil {
		t.Fatal(err)
	}
	radvd := r.Cmd("radvd", "-n", "-C", conf, "-p", filepath.Join(dir, "radvd.pid"), "-m", "stderr")
	var radvdLog strings.Builder
	radvd.Stdout, radvd.Stderr = &radvdLog, &radvdLog
	if err := radvd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		radvd.Process.Signal(syscall.SIGTERM)
		radvd.Wait()
		if t.Failed() {
			t.Logf("radvd:\n%s", radvdLog.String())
		}
	})

	p := startUp6(t, r, "tapstack: up on tap0 (bridge br0) as 10.0.0.2/24 "+hostLL+"/64 mac "+hostMAC,
		"up", "--tap", "tap0", "--bridge", "br0", "--addr", "10.0.0.2/24", "--mac", hostMAC)
	m := p.waitLine(t, regexp.MustCompile(`^tapstack: tap0: fd00:1::ff:fe00:2/64 from router (fe80::\S+) \(SLAAC\), default via (fe80::\S+)$`), 30*time.Second)
	if m[1] != m[2] {
		t.Errorf("SLAAC line names router %s but default via %s", m[1], m[2])
	}
	router := m[2]

	out, err := r.Output(binary(t), "route", "-6")
	t.Logf("tapstack route -6:\n%s", out)
	if err != nil ||
		!regexp.MustCompile(`(?m)^fd00:1::/64 dev tap0 proto kernel metric 256 expires \d+sec pref medium$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^default via `+regexp.QuoteMeta(router)+` dev tap0 proto ra metric 1024 expires \d+sec hoplimit 64 pref medium$`).MatchString(out) {
		t.Errorf("tapstack route -6 lacks the SLAAC prefix or the default via %s proto ra (%v)", router, err)
	}
	out, _ = r.Output(binary(t), "neigh", "-6")
	t.Logf("tapstack neigh -6:\n%s", out)
	if !strings.Contains(out, router+" dev tap0 lladdr ") || !strings.Contains(out, " router ") {
		t.Errorf("tapstack neigh -6 lacks the router %s with the router flag:\n%s", router, out)
	}

	// From behind the router: the replies go through the learnt default
	// route.
	pingUntil(t, s, 10*time.Second, "-6", "fd00:1::ff:fe00:2")
	out, err = s.Output("curl", "-6", "-sS", "--max-time", "10", "http://[fd00:1::ff:fe00:2]/")
	if err != nil || !strings.Contains(out, "inet6 fd00:1::ff:fe00:2/64 scope global") {
		t.Fatalf("curl from behind the router: %v\n%s", err, out)
	}
}

// TestIPv6CLIDADConflict is acceptance 4: a second `tapstack up` with
// the IPv6 address of the first on the same bridge refuses in one line,
// as for IPv4, and the first keeps answering.
func TestIPv6CLIDADConflict(t *testing.T) {
	needTools(t, "ip", "ping")
	ns := bridgeNS(t)
	addr6(t, ns, bridgeAddr6+"/64", "br0")
	startUp6(t, ns, "tapstack: up on tap0 (bridge br0) as fd00::2/64 "+hostLL+"/64 mac "+hostMAC,
		"up", "--tap", "tap0", "--bridge", "br0", "--addr", hostAddr6+"/64", "--mac", hostMAC)
	stdout, stderr, code := runCLI(t, ns, "up", "--tap", "tap1", "--bridge", "br0", "--addr", hostAddr6+"/64", "--mac", "02:00:00:00:00:03")
	want := "tapstack: fd00::2 is already in use on br0 by " + hostMAC + "; choose another address\n"
	if code != 1 || stderr != want || stdout != "" {
		t.Fatalf("second tapstack up: exit %d, stderr %q, stdout %q; want exit 1 and %q", code, stderr, stdout, want)
	}
	t.Logf("second tapstack up: %s", strings.TrimSpace(stderr))
	pingUntil(t, ns, 10*time.Second, "-6", hostAddr6)
}
