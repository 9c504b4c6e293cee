package integration

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// TestRouter6SLAACPingCurlTraceroute (issue 14, acceptance 3): Linux hosts
// A and B on either side of tapstack configure SLAAC addresses and default
// routes from its router advertisements (RFC 4861 6.2, RFC 4862), ping and
// curl each other over IPv6 through it, and traceroute -6 lists tapstack
// as the middle hop (hop-limit expiry answered with time exceeded, RFC
// 4443 3.3); a destination without a route gets destination unreachable.
func TestRouter6SLAACPingCurlTraceroute(t *testing.T) {
	needTools(t, "ping", "curl", "traceroute")
	forEachRouter6(t, testRouter6SLAACPingCurlTraceroute)
}

// forEachRouter6 runs f as a subtest against `tapstack up --forward`
// ("cli") and against an in-process host.New router ("in-process").
func forEachRouter6(t *testing.T, f func(*testing.T, *router6)) {
	t.Run("cli", func(t *testing.T) { f(t, startRouter6CLI(t)) })
	t.Run("in-process", func(t *testing.T) { f(t, startRouter6(t, offloadOn)) })
}

func testRouter6SLAACPingCurlTraceroute(t *testing.T, r *router6) {

	for _, p := range []struct {
		from, to string
		ns       func() string
	}{
		{"A", "B", func() string { return runOut(r.a, "ping", "-6", "-c", "3", "-W", "5", r.addrB) }},
		{"B", "A", func() string { return runOut(r.b, "ping", "-6", "-c", "3", "-W", "5", r.addrA) }},
		{"A", "tapstack's far address", func() string { return runOut(r.a, "ping", "-6", "-c", "2", "-W", "5", router6Out) }},
	} {
		out := p.ns()
		if !strings.Contains(out, " 0% packet loss") {
			t.Fatalf("ping -6 %s→%s lost packets:\n%s", p.from, p.to, out)
		}
		// Linux sends with hop limit 64 (and tapstack advertises 64):
		// a router decrements it once (RFC 8200 3), its own replies
		// arrive with 64 untouched.
		want := "ttl=63"
		if p.to == "tapstack's far address" {
			want = "ttl=64"
		}
		if !strings.Contains(out, want) {
			t.Errorf("ping -6 %s→%s: want %s in:\n%s", p.from, p.to, want, out)
		}
	}

	l := listen6(t, r.b, "["+r.addrB+"]:8080")
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprintf(w, "hello %s from B\n", req.RemoteAddr)
	}))
	url := "http://[" + r.addrB + "]:8080/"
	out, err := r.a.Output("curl", "-6", "-sS", "--max-time", "20", url)
	if err != nil {
		t.Fatal(err)
	}
	if want := "hello [" + r.addrA + "]:"; !strings.HasPrefix(out, want) {
		t.Fatalf("curl -6 %s from A: %q, want B to see A's own address (%q...)", url, out, want)
	}
	t.Logf("curl -6 %s from A: %s", url, strings.TrimSpace(out))

	out, err = r.a.Output("traceroute", "-6", "-n", "-q", "1", "-w", "5", "-m", "5", r.addrB)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("traceroute -6 -n %s from A:\n%s", r.addrB, out)
	hops := regexp.MustCompile(`(?m)^\s*(\d+)\s+(\S+)`).FindAllStringSubmatch(out, -1)
	if len(hops) != 2 || hops[0][2] != router6In || hops[1][2] != r.addrB {
		t.Fatalf("traceroute -6 hops %q, want 1 %s, 2 %s:\n%s", hops, router6In, r.addrB, out)
	}

	out = runOut(r.a, "ping", "-6", "-c", "1", "-W", "3", "-t", "1", r.addrB)
	t.Logf("ping -6 -t 1 from A:\n%s", headLines(out, 2))
	if want := "From " + router6In + " icmp_seq=1 Time exceeded: Hop limit"; !strings.Contains(out, want) {
		t.Errorf("ping -6 -t 1: want %q in:\n%s", want, out)
	}
	// A destination tapstack has no route to (RFC 4443 3.1, code 0).
	out = runOut(r.a, "ping", "-6", "-c", "1", "-W", "3", "fd00:99::1")
	if want := "From " + router6In + " icmp_seq=1 Destination unreachable: No route"; !strings.Contains(out, want) {
		t.Errorf("ping -6 fd00:99::1: want %q in:\n%s", want, out)
	}
	t.Log(r.fwd6(t))
	if n := r.counter(t, "ipv6.fwd.no_route"); n < 1 {
		t.Errorf("ipv6.fwd.no_route = %d after a ping to fd00:99::1", n)
	}
	if r.h == nil {
		out, err := r.r.Output(binary(t), "route", "-6")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("tapstack route -6:\n%s", out)
		for _, want := range []string{"fd00:1::/64 dev tap1 proto kernel", "fd00:2::/64 dev tap2 proto kernel"} {
			if !strings.Contains(out, want) {
				t.Errorf("tapstack route -6 lacks %q", want)
			}
		}
	}
	if n := r.counter(t, "ipv6.fwd.hop_limit_exceeded"); n < 2 {
		t.Errorf("ipv6.fwd.hop_limit_exceeded = %d after traceroute and ping -t 1", n)
	}
	if n := r.counter(t, "ipv6.fwd.forwarded"); n < 10 {
		t.Errorf("ipv6.fwd.forwarded = %d, want the pings and the HTTP exchange", n)
	}
}

// TestRouter6PacketTooBig (RFC 4443 3.2, RFC 8201, RFC 8200 5: routers
// never fragment): A sends a 1500-byte packet towards B, whose link has an
// MTU of 1400; tapstack answers packet too big with mtu 1400 and A's
// kernel learns the path MTU.
func TestRouter6PacketTooBig(t *testing.T) {
	needTools(t, "ping")
	forEachRouter6(t, testRouter6PacketTooBig)
}

func testRouter6PacketTooBig(t *testing.T, r *router6) {
	// 1452 bytes of ICMPv6 echo data + 8 + 40 = 1500.
	out := runOut(r.a, "ping", "-6", "-c", "2", "-i", "0.5", "-W", "3", "-M", "do", "-s", "1452", r.addrB)
	t.Logf("ping -6 -M do -s 1452 from A:\n%s", headLines(out, 4))
	if want := "From " + router6In + " icmp_seq=1 Packet too big: mtu=1400"; !strings.Contains(out, want) {
		t.Errorf("want %q in:\n%s", want, out)
	}
	route := runOut(r.a, "ip", "-6", "route", "get", r.addrB)
	t.Logf("ip -6 route get %s in A: %s", r.addrB, strings.TrimSpace(route))
	if !strings.Contains(route, "mtu 1400") {
		t.Errorf("A's kernel did not learn the path MTU 1400: %s", route)
	}
	// Below the learned MTU the same ping gets through.
	if out := runOut(r.a, "ping", "-6", "-c", "2", "-W", "5", "-M", "do", "-s", "1352", r.addrB); !strings.Contains(out, " 0% packet loss") {
		t.Errorf("ping -6 -M do -s 1352 (1400 bytes) lost packets:\n%s", out)
	}
	// And a big ping gets through fragmented by A at the learned MTU.
	if out := runOut(r.a, "ping", "-6", "-c", "2", "-W", "5", "-s", "4000", r.addrB); !strings.Contains(out, " 0% packet loss") {
		t.Errorf("ping -6 -s 4000 lost packets:\n%s", out)
	}
	if n := r.counter(t, "ipv6.fwd.too_big"); n < 1 {
		t.Errorf("ipv6.fwd.too_big = %d", n)
	}
	t.Log(r.fwd6(t))
}

// TestRouter6Transfer100MiB: 100 MiB each way between A and B through
// tapstack over IPv6, SHA-256 checked by the receiver; TCP's MSS and path
// MTU discovery fit B's 1400-byte link. Through `tapstack up --forward`,
// and in-process: with offloads on the TAPs (the command's default) the kernels hand tapstack partial checksums and TCP
// super-segments, which it passes on for the output TAP to checksum and
// segment (TUN_F_TSO6); with tap2's offloads hidden from the stack, it cuts
// A's super-segments for B and completes their checksums in software
// (ipv6/offload.go); with plain TAPs every frame is whole.
func TestRouter6Transfer100MiB(t *testing.T) {
	var results []string
	for _, tt := range []struct {
		name string
		mode int
	}{{"cli", offloadCLI}, {"offload", offloadOn}, {"offload-hidden", offloadHidden}, {"plain", offloadOff}} {
		t.Run(tt.name, func(t *testing.T) {
			var r *router6
			if tt.mode == offloadCLI {
				r = startRouter6CLI(t)
			} else {
				r = startRouter6(t, tt.mode)
			}
			hashSink6(listen6(t, r.b, "["+r.addrB+"]:9000"))
			hashSink6(listen6(t, r.a, "["+r.addrA+"]:9000"))
			d := transfer6(t, r.a, net.JoinHostPort(r.addrB, "9000"), bulk)
			results = append(results, fmt.Sprintf("%s: 100 MiB A→B over IPv6 through tapstack in %v (%s), SHA-256 checked by B", tt.name, d.Round(1e6), mibps(bulk, d)))
			d = transfer6(t, r.b, net.JoinHostPort(r.addrA, "9000"), bulk)
			results = append(results, fmt.Sprintf("%s: 100 MiB B→A over IPv6 through tapstack in %v (%s), SHA-256 checked by A", tt.name, d.Round(1e6), mibps(bulk, d)))
			if tt.mode == offloadCLI {
				t.Log(r.fwd6(t))
				if r.counter(t, "ipv6.fwd.gso_passed") == 0 || r.counter(t, "ipv6.fwd.csum_offloaded") == 0 {
					t.Errorf("the command's offloading TAPs passed on no IPv6 super-segments or partial checksums")
				}
				return
			}
			s1, s2 := r.tap1.Stats(), r.tap2.Stats()
			t.Logf("%s; tap1 rx GSO %d partial %d tx GSO %d partial %d; tap2 rx GSO %d partial %d tx GSO %d partial %d",
				r.fwd6(t), s1.RxGSO, s1.RxChecksumPartial, s1.TxGSO, s1.TxChecksumPartial,
				s2.RxGSO, s2.RxChecksumPartial, s2.TxGSO, s2.TxChecksumPartial)
			c := r.h.Stack().Counters()
			switch tt.mode {
			case offloadOn:
				if s1.RxGSO == 0 || s2.RxGSO == 0 || c.Value("ipv6.fwd.gso_passed") == 0 || c.Value("ipv6.fwd.csum_offloaded") == 0 {
					t.Errorf("no IPv6 super-segments or partial checksums received and passed on (TSO6 not offered?): the test shows nothing")
				}
			case offloadHidden:
				if c.Value("ipv6.fwd.gso_segmented") == 0 || c.Value("ipv6.fwd.csum_completed") == 0 {
					t.Errorf("want A's super-segments cut and partial checksums completed for the hidden TAP")
				}
				if s2.TxGSO != 0 || s2.TxChecksumPartial != 0 {
					t.Errorf("tap2 (offloads hidden) wrote %d GSO and %d partial-checksum frames", s2.TxGSO, s2.TxChecksumPartial)
				}
			case offloadOff:
				if c.Value("ipv6.fwd.gso_passed")+c.Value("ipv6.fwd.gso_segmented")+c.Value("ipv6.fwd.csum_offloaded") != 0 {
					t.Errorf("offload counters moved on plain TAPs")
				}
			}
		})
	}
	for _, r := range results {
		t.Log(r)
	}
}

// TestRouter6FinalAdvertisement (RFC 4861 6.2.5): when tapstack stops, its
// last advertisements carry a router lifetime of 0, and the Linux hosts
// drop it as their default router at once rather than after 30 minutes.
func TestRouter6FinalAdvertisement(t *testing.T) {
	r := startRouter6(t, offloadOn)
	if err := r.h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []*netnstest.NS{r.a, r.b} {
		var routes string
		if !poll(10*time.Second, func() bool {
			routes = runOut(ns, "ip", "-6", "route", "show", "default")
			return !strings.Contains(routes, "proto ra")
		}) {
			t.Errorf("%s kept its default route via tapstack after it stopped:\n%s", ns.Name(), routes)
		}
	}
	if n := r.counter(t, "ndp.tx.ra"); n < 4 {
		t.Errorf("ndp.tx.ra = %d, want at least the first and the final advertisement on each interface", n)
	}
}
