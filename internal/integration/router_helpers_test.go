package integration

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// The router topology of issue 7, with a Linux host on each side:
//
//	nsA: eth0 10.0.1.1/24 ─veth─ a0 ┐                ┌ b0 ─veth─ eth0 10.0.2.1/24 (mtu 1400) :nsB
//	                               br1 ── tap1 [tapstack] tap2 ── br2
//	                     nsR:      10.0.1.254/24 (mtu 1500)   10.0.2.254/24 (mtu 1400)
//
// The bridges in nsR have no addresses, so the kernel of nsR cannot route
// between them: every packet from A to B crosses tapstack. A's and B's
// default routes point at tapstack's addresses. With kernel set, nsR is a
// Linux router instead (the bridges get tapstack's addresses and
// ip_forward=1): the same topology for comparison.
type routerTopo struct {
	r, a, b *netnstest.NS
}

const (
	routerA   = "10.0.1.1"
	routerB   = "10.0.2.1"
	routerIn  = "10.0.1.254" // the router on A's side
	routerOut = "10.0.2.254" // the router on B's side
)

func newRouterTopo(t *testing.T, kernel bool) *routerTopo {
	t.Helper()
	needTools(t, "ip")
	tp := &routerTopo{r: netnstest.New(t), a: netnstest.New(t), b: netnstest.New(t)}
	tp.r.AddBridge("br1", "")
	tp.r.AddBridge("br2", "")
	run := func(ns *netnstest.NS, args ...string) {
		t.Helper()
		if _, err := ns.Output(args[0], args[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	for _, side := range []struct {
		ns              *netnstest.NS
		port, br, addr  string
		gw, mtu, peerNS string
	}{
		{tp.a, "a0", "br1", routerA + "/24", routerIn, "1500", tp.r.Name()},
		{tp.b, "b0", "br2", routerB + "/24", routerOut, "1400", tp.r.Name()},
	} {
		run(side.ns, "ip", "link", "add", "eth0", "mtu", side.mtu, "type", "veth", "peer", "name", side.port, "mtu", side.mtu, "netns", side.peerNS)
		run(side.ns, "ip", "addr", "add", side.addr, "dev", "eth0")
		run(side.ns, "ip", "link", "set", "eth0", "up")
		run(side.ns, "ip", "route", "add", "default", "via", side.gw)
		run(tp.r, "ip", "link", "set", side.port, "master", side.br)
		run(tp.r, "ip", "link", "set", side.port, "up")
	}
	if kernel {
		run(tp.r, "ip", "addr", "add", routerIn+"/24", "dev", "br1")
		run(tp.r, "ip", "addr", "add", routerOut+"/24", "dev", "br2")
		run(tp.r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	return tp
}

// startTapstack runs `tapstack args...` inside ns, waits for its up line
// (which must start with want) and registers a cleanup that stops it with
// SIGTERM and checks it exited 0 with an empty stderr. It returns the up
// line and the process ID.
func startTapstack(t *testing.T, ns *netnstest.NS, want string, args ...string) (string, int) {
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
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		for range lines {
		}
		return cmd.Wait()
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("tapstack exited with %v; stderr: %s", err, stderr.String())
		} else if rest := withoutDHCPProgress(stderr.String()); rest != "" {
			t.Errorf("tapstack wrote to stderr: %s", rest)
		}
	})
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, want) {
			stop()
			t.Fatalf("tapstack did not come up: first line %q, stderr %q", line, stderr.String())
		}
		t.Log(line)
		return line, cmd.Process.Pid
	case <-time.After(30 * time.Second):
		t.Fatalf("tapstack printed no up line in 30s; stderr %q", stderr.String())
	}
	return "", 0
}

// startRouter runs tapstack as the router of tp (extra flags appended).
func startRouter(t *testing.T, tp *routerTopo, extra ...string) {
	t.Helper()
	args := append([]string{"up",
		"--nic", "tap1,bridge=br1,addr=" + routerIn + "/24",
		"--nic", "tap2,bridge=br2,addr=" + routerOut + "/24,mtu=1400",
		"--forward"}, extra...)
	startTapstack(t, tp.r, "tapstack: up on tap1 (bridge br1) as "+routerIn+"/24", args...) // nolint
}

// runOut runs a command in ns and returns its combined output whatever its
// exit status (ping exits 1 when it gets only errors back).
func runOut(ns *netnstest.NS, name string, args ...string) string {
	out, _ := ns.Cmd(name, args...).CombinedOutput()
	return string(out)
}

// hashSink listens on B (port 9000): for each connection it reads to EOF
// and answers with the hex SHA-256 of what it read.
func hashSink(t *testing.T, ns *netnstest.NS) {
	t.Helper()
	l := linuxListen(t, ns, routerB+":9000")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				h := sha256.New()
				if _, err := io.Copy(h, c); err != nil {
					return
				}
				io.WriteString(c, hex.EncodeToString(h.Sum(nil)))
			}()
		}
	}()
}

// transfer sends n bytes from A to B's hash sink, checks the SHA-256 B
// computed and returns how long it took.
func transfer(t *testing.T, tp *routerTopo, n int64) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	c, err := linuxDial(ctx, tp.a, "tcp4", routerB+":9000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(120 * time.Second))
	sent := sha256.New()
	if _, err := io.Copy(c, io.TeeReader(newPatternReader(n, 7), sent)); err != nil {
		t.Fatalf("sending: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading B's hash: %v", err)
	}
	d := time.Since(start)
	if want := hex.EncodeToString(sent.Sum(nil)); string(got) != want {
		t.Fatalf("B received bytes with SHA-256 %q, A sent %s", got, want)
	}
	return d
}

// mibps formats a throughput.
func mibps(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MiB/s", float64(n)/(1<<20)/d.Seconds())
}

// withoutDHCPProgress drops the lines `up --dhcp` prints while it waits
// for its lease ("tapstack: dhcp: DISCOVER sent on ...") from stderr, and
// the log records at info and debug level (--log-format text: "time=...
// level=INFO msg=\"dhcp lease bound\" ..."); warnings and errors stay.
func withoutDHCPProgress(stderr string) string {
	var rest strings.Builder
	for _, line := range strings.SplitAfter(stderr, "\n") {
		record := strings.HasPrefix(line, "time=") && (strings.Contains(line, " level=INFO ") || strings.Contains(line, " level=DEBUG "))
		if !strings.HasPrefix(line, "tapstack: dhcp: ") && !record {
			rest.WriteString(line)
		}
	}
	return rest.String()
}
