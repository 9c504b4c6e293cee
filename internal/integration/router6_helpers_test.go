package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/tap"
)

// The IPv6 router topology of issue 14, acceptance 3: the router topology
// of issue 7 (newRouterTopo: A on br1, B on br2 behind a 1400-byte MTU)
// with tapstack, in-process in nsR, routing IPv6 between the bridges and
// advertising fd00:1::/64 on tap1 and fd00:2::/64 on tap2 (tap2's MTU
// 1400). A and B are fresh namespaces with Linux's defaults (accept_ra=1,
// forwarding=0): they configure their addresses and default routes from
// tapstack's advertisements only.
const (
	router6In  = "fd00:1::1" // tapstack on A's side
	router6Out = "fd00:2::1" // tapstack on B's side
)

// router6 is the running IPv6 router of a routerTopo and the SLAAC
// addresses A and B took from its advertisements.
type router6 struct {
	*routerTopo
	h          *host.Host
	tap1, tap2 *tap.Device
	addrA      string // A's SLAAC address in fd00:1::/64
	addrB      string // B's SLAAC address in fd00:2::/64
}

// TAP modes of the router of startRouter6.
const (
	offloadOn     = iota // offloads on both TAPs (the command's default)
	offloadOff           // plain TAPs
	offloadHidden        // offloads, but tap2's hidden from the stack by a capture decorator
	offloadCLI           // `tapstack up --forward` (offloads on), not in-process
)

// newRouter6Topo builds the router topology with nsR's kernel kept out of
// IPv6 and checks that A and B have Linux's host defaults for SLAAC.
func newRouter6Topo(t *testing.T) *routerTopo {
	t.Helper()
	tp := newRouterTopo(t, false)
	// nsR's own kernel stays out of IPv6 (no link-local addresses, no
	// SLAAC from tapstack's advertisements on the bridges): every IPv6
	// packet between A and B crosses tapstack.
	for _, ifc := range []string{"default", "br1", "br2", "a0", "b0"} {
		sysctl(t, tp.r, "net.ipv6.conf."+ifc+".disable_ipv6=1")
	}
	for _, ns := range []*netnstest.NS{tp.a, tp.b} {
		// Fresh namespaces: Linux's host defaults, which are what SLAAC
		// needs. Check rather than set them.
		for key, want := range map[string]string{
			"net.ipv6.conf.eth0.accept_ra":    "1",
			"net.ipv6.conf.eth0.forwarding":   "0",
			"net.ipv6.conf.eth0.autoconf":     "1",
			"net.ipv6.conf.eth0.disable_ipv6": "0",
		} {
			if got := readSysctl(t, ns, key); got != want {
				t.Fatalf("%s: %s = %s, want the default %s", ns.Name(), key, got, want)
			}
		}
	}
	return tp
}

// startRouter6 builds the topology, starts tapstack in-process as the IPv6
// router with its TAPs in mode (offloadOn, ...) and waits for A and B to
// autoconfigure from its advertisements.
func startRouter6(t *testing.T, mode int) *router6 {
	t.Helper()
	tp := newRouter6Topo(t)
	r := &router6{routerTopo: tp}
	noOffload := mode == offloadOff
	if err := tp.r.Run(func() (err error) {
		if r.tap1, err = tap.Open(tap.Config{Name: "tap1", Bridge: "br1", NoOffload: noOffload}); err != nil {
			return err
		}
		r.tap2, err = tap.Open(tap.Config{Name: "tap2", Bridge: "br2", MTU: 1400, NoOffload: noOffload})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var dev2 link.Device = r.tap2
	if mode == offloadHidden {
		if !r.tap2.Offload() {
			r.tap1.Close()
			r.tap2.Close()
			t.Skip("the kernel refused TAP offloads")
		}
		var err error
		if dev2, err = link.NewCapture(r.tap2, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	cfg := host.Config{
		Interfaces: []host.Interface{
			{Name: "tap1", Device: r.tap1, Addr: netip.MustParsePrefix(router6In + "/64")},
			{Name: "tap2", Device: dev2, Addr: netip.MustParsePrefix(router6Out + "/64")},
		},
		// Unsolicited advertisements every 4 to 5 s (RFC 4861's
		// smallest MaxRtrAdvInterval), so hosts whose solicitations went
		// out before tapstack started configure soon.
		Advertise: &ndp.AdvertiseConfig{MaxInterval: 5 * time.Second, MinInterval: 4 * time.Second},
	}
	cfg.IPv6.Forwarding = true
	h, err := host.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("router close: %v", err)
		}
	})
	r.addrA = waitSLAAC(t, tp.a, "fd00:1:", linkLocal(t, h, "tap1"))
	r.addrB = waitSLAAC(t, tp.b, "fd00:2:", linkLocal(t, h, "tap2"))
	return r
}

// startRouter6CLI builds the topology, runs `tapstack up --forward` as
// the router (offloads on, the default) and waits for A and B to
// autoconfigure from its advertisements.
func startRouter6CLI(t *testing.T) *router6 {
	t.Helper()
	if help := runOut(netnstest.New(t), binary(t), "up", "--help"); !strings.Contains(help, "--no-slaac") {
		t.Skip("this tapstack up does not take IPv6 addresses yet (no --no-slaac in tapstack up --help)")
	}
	tp := newRouter6Topo(t)
	line, _ := startTapstack(t, tp.r, "tapstack: up on tap1 (bridge br1)", "up",
		"--nic", "tap1,addr="+router6In+"/64,bridge=br1",
		"--nic", "tap2,addr="+router6Out+"/64,bridge=br2,mtu=1400",
		"--forward")
	for _, want := range []string{router6In + "/64", router6Out + "/64", "mtu 1400"} {
		if !strings.Contains(line, want) {
			t.Errorf("up line lacks %q: %s", want, line)
		}
	}
	ll := func(tap string) string {
		m := regexp.MustCompile(tap + ` \(bridge br\d\) as [^,]*?(fe80::[0-9a-f:]+)/64`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("up line lacks the link-local address of %s: %s", tap, line)
		}
		return m[1]
	}
	r := &router6{routerTopo: tp}
	r.addrA = waitSLAAC(t, tp.a, "fd00:1:", ll("tap1"))
	r.addrB = waitSLAAC(t, tp.b, "fd00:2:", ll("tap2"))
	return r
}

// counter returns a stack counter of the router: in-process, or from
// `tapstack status` of the command.
func (r *router6) counter(t *testing.T, name string) int64 {
	t.Helper()
	if r.h != nil {
		return int64(r.h.Stack().Counters().Value(name))
	}
	status, err := r.r.Output(binary(t), "status")
	if err != nil {
		t.Fatal(err)
	}
	return counter(status, name)
}

// slaacAddr matches a global, non-tentative address in `ip -6 addr`.
var slaacAddr = regexp.MustCompile(`inet6 (fd00:[0-9a-f:]+)/64 scope global (?:dynamic )?(?:mngtmpaddr )?(?:noprefixroute )?\n`)

// linkLocal returns the link-local address of h's interface name.
func linkLocal(t *testing.T, h *host.Host, name string) string {
	t.Helper()
	nic := h.Stack().NIC(name)
	if nic == nil {
		t.Fatalf("router has no interface %s", name)
	}
	for _, a := range nic.Addresses() {
		if a.Addr().IsLinkLocalUnicast() {
			return a.Addr().String()
		}
	}
	t.Fatalf("router interface %s has no link-local address: %v", name, nic.Addresses())
	return ""
}

// waitSLAAC polls (bounded) until ns's eth0 holds a usable SLAAC address
// in the prefix starting with prefix and a default route learnt from the
// advertisements of router (tapstack's link-local address), and returns
// the address.
func waitSLAAC(t *testing.T, ns *netnstest.NS, prefix, router string) string {
	t.Helper()
	var addr, addrs, routes string
	ok := poll(40*time.Second, func() bool {
		addrs = runOut(ns, "ip", "-6", "addr", "show", "dev", "eth0", "scope", "global")
		routes = runOut(ns, "ip", "-6", "route", "show")
		addr = ""
		for _, m := range slaacAddr.FindAllStringSubmatch(addrs, -1) {
			if strings.HasPrefix(m[1], prefix) && !strings.Contains(m[0], "tentative") {
				addr = m[1]
			}
		}
		return addr != "" && strings.Contains(routes, "default via "+router+" dev eth0 proto ra ")
	})
	if !ok {
		t.Fatalf("%s got no SLAAC address in %s/64 and default route via tapstack (%s) in 40s:\n%s\n%s", ns.Name(), prefix, router, addrs, routes)
	}
	t.Logf("%s autoconfigured %s; ip -6 route:\n%s", ns.Name(), addr, routes)
	return addr
}

// sysctl sets key=value inside ns.
func sysctl(t *testing.T, ns *netnstest.NS, kv string) {
	t.Helper()
	if out, err := ns.Output("sysctl", "-qw", kv); err != nil {
		t.Fatalf("sysctl -w %s in %s: %v %s", kv, ns.Name(), err, out)
	}
}

// readSysctl reads key inside ns.
func readSysctl(t *testing.T, ns *netnstest.NS, key string) string {
	t.Helper()
	out, err := ns.Output("sysctl", "-n", key)
	if err != nil {
		t.Fatalf("sysctl -n %s in %s: %v", key, ns.Name(), err)
	}
	return strings.TrimSpace(out)
}

// listen6 listens on the Linux side of ns (tcp6).
func listen6(t *testing.T, ns *netnstest.NS, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := ns.Run(func() (err error) {
		l, err = net.Listen("tcp6", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// hashSink6 serves on l: for each connection it reads to EOF and answers
// with the hex SHA-256 of what it read.
func hashSink6(l net.Listener) {
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

// transfer6 sends n bytes from ns to the hash sink at addr, checks the
// SHA-256 the sink computed and returns how long it took.
func transfer6(t *testing.T, ns *netnstest.NS, addr string, n int64) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	c, err := linuxDial(ctx, ns, "tcp6", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(120 * time.Second))
	sent := sha256.New()
	if _, err := io.Copy(c, io.TeeReader(newPatternReader(n, 11), sent)); err != nil {
		t.Fatalf("sending to %s: %v", addr, err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the hash from %s: %v", addr, err)
	}
	d := time.Since(start)
	if want := hex.EncodeToString(sent.Sum(nil)); string(got) != want {
		t.Fatalf("%s received bytes with SHA-256 %q, sent %s", addr, got, want)
	}
	return d
}

// fwd6 formats the IPv6 forwarding counters of the router.
func (r *router6) fwd6(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, n := range []string{"forwarded", "hop_limit_exceeded", "too_big", "no_route", "gso_passed", "gso_segmented", "gso_segments", "csum_offloaded", "csum_completed"} {
		fmt.Fprintf(&b, " %s=%d", n, r.counter(t, "ipv6.fwd."+n))
	}
	return "ipv6.fwd:" + b.String()
}
