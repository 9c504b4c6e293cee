package integration

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/ipv4"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
	"github.com/tapstack/tapstack/tcp"
	"github.com/tapstack/tapstack/udp"
)

// dnsmasq is a dnsmasq process serving DHCP (10.0.0.50–60, 2-minute
// leases) and DNS (web.test → 10.0.0.1, nope.test NXDOMAIN) on br0 inside
// a test namespace.
type dnsmasq struct {
	dir       string
	leaseFile string
	mu        sync.Mutex
	log       []string
}

// startDnsmasq runs dnsmasq in ns until the test ends and waits until it
// has started; extra are more dnsmasq options.
func startDnsmasq(t *testing.T, ns *netnstest.NS, extra ...string) *dnsmasq {
	t.Helper()
	bin := "/usr/sbin/dnsmasq"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("dnsmasq"); err != nil {
			t.Skip("needs dnsmasq (package dnsmasq-base; make deps installs it)")
		}
	}
	d := &dnsmasq{dir: t.TempDir()}
	d.leaseFile = filepath.Join(d.dir, "leases")
	cmd := ns.Cmd(bin,
		"--no-daemon", "--conf-file=/dev/null", "--interface=br0", "--bind-interfaces",
		"--dhcp-range=10.0.0.50,10.0.0.60,2m", "--dhcp-leasefile="+d.leaseFile,
		"--address=/web.test/10.0.0.1", "--address=/nope.test/", "--no-resolv", "--no-hosts",
		"--pid-file="+filepath.Join(d.dir, "pid"), "--port=53", "--log-dhcp", "--log-queries",
		"--log-facility=-", "--user=root", "--group=root")
	cmd.Args = append(cmd.Args, extra...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.log = append(d.log, sc.Text())
			d.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", strings.Join(d.lines(), "\n"))
		}
	})
	if !d.waitLog(func(l string) bool { return strings.Contains(l, "started, version") }, 1) {
		t.Fatalf("dnsmasq did not start:\n%s", strings.Join(d.lines(), "\n"))
	}
	return d
}

func (d *dnsmasq) lines() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.log...)
}

// count returns how many log lines contain all of the substrings.
func (d *dnsmasq) count(subs ...string) int {
	n := 0
	for _, l := range d.lines() {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			n++
		}
	}
	return n
}

// waitLog polls (bounded, readiness only) until n log lines satisfy f.
func (d *dnsmasq) waitLog(f func(string) bool, n int) bool {
	return poll(30*time.Second, func() bool {
		c := 0
		for _, l := range d.lines() {
			if f(l) {
				c++
			}
		}
		return c >= n
	})
}

// leases returns the lease file's content.
func (d *dnsmasq) leases() string {
	b, _ := os.ReadFile(d.leaseFile)
	return string(b)
}

// poll calls f until it is true or the bound passes. It is for readiness of
// external processes only, never for ordering our own events.
func poll(bound time.Duration, f func() bool) bool {
	deadline := time.Now().Add(bound)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bareHost is a tapstack stack on tap0 (in br0 inside ns) with no address:
// IPv4, ARP, TCP and UDP, ready for a DHCP client. (host.New wants an
// address up front; wiring --dhcp into package host is a separate step.)
type bareHost struct {
	s   *stack.Stack
	nic *stack.NIC
	arp *arp.Protocol
}

func startBareHost(t *testing.T, ns *netnstest.NS) *bareHost {
	t.Helper()
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tap0", Bridge: "br0", NoOffload: true})
		return err
	}); err != nil {
		t.Fatalf("open tap0: %v", err)
	}
	s := stack.New(stack.Options{})
	h := &bareHost{s: s}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("stack close: %v", err)
		}
	})
	var err error
	if _, err = ipv4.Register(s, ipv4.Options{}); err != nil {
		t.Fatal(err)
	}
	if h.arp, err = arp.Register(s, arp.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err = tcp.Register(s, tcp.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err = udp.Register(s, udp.Options{}); err != nil {
		t.Fatal(err)
	}
	if h.nic, err = s.AddNIC("tap0", link.NewEthernet(dev, stack.MAC{0x02, 0x74, 0x73, 0, 0, 0x01})); err != nil {
		dev.Close()
		t.Fatal(err)
	}
	return h
}

// DialContext dials over the stack ("tcp" or "udp", "ip:port"), the shape
// of host.Host.DialContext.
func (h *bareHost) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	switch network {
	case "tcp", "tcp4":
		return tcp.Dial(ctx, h.s, ap)
	case "udp", "udp4":
		return udp.Dial(ctx, h.s, ap)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
}

// inRange reports whether a is in dnsmasq's 10.0.0.50–60 range.
func inRange(a netip.Addr) bool {
	b := a.As4()
	return a.Is4() && b[0] == 10 && b[1] == 0 && b[2] == 0 && b[3] >= 50 && b[3] <= 60
}
