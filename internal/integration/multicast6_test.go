package integration

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/ipv6"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/mld"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
	"github.com/tapstack/tapstack/udp"
)

// mldMAC is the tapstack interface's address in TestMulticastIPv6Linux.
var mldMAC = stack.MAC{0x02, 0x74, 0x73, 0, 0, 0x06}

// mldLog is a link endpoint wrapper that tallies the MLDv2 records we send
// ("TO_EX ff02::1:3" → count), so the test knows when a state change has
// been fully reported (the join and its retransmission) before the next
// one, which keeps the reports one record each and their number exact.
type mldLog struct {
	stack.LinkEndpoint
	mu   sync.Mutex
	recs map[string]int
}

func (l *mldLog) WritePacket(dst stack.MAC, et uint16, p *stack.Packet) error {
	b := p.Bytes()
	if et == stack.EtherTypeIPv6 && len(b) >= ipv6.HeaderLen+8 && ipv6.Header(b).NextHeader() == ipv6.ProtoHopByHop {
		m := mld.Message(b[ipv6.HeaderLen+8:])
		if m.Validate() == nil && m.Type() == mld.TypeV2Report && mld.Report(m).ValidateReport() == nil {
			l.mu.Lock()
			mld.Report(m).Records(func(r mld.Record) bool {
				l.recs[fmt.Sprintf("%d %v", r.Type(), r.Address())]++
				return true
			})
			l.mu.Unlock()
		}
	}
	return l.LinkEndpoint.WritePacket(dst, et, p)
}

// count returns how many records of type typ for g were sent.
func (l *mldLog) count(typ uint8, g netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recs[fmt.Sprintf("%d %v", typ, g)]
}

// mldHost is a stack built for the test (not package host, which does not
// speak IPv6 yet): IPv6, NDP, MLD and UDP on tap0 in br0.
type mldHost struct {
	s   *stack.Stack
	nic *stack.NIC
	log *mldLog
	mld *mld.Protocol
}

func startMLDHost(t *testing.T, ns *netnstest.NS) *mldHost {
	t.Helper()
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tap0", Bridge: "br0", NoOffload: true})
		return err
	}); err != nil {
		t.Fatalf("open tap0: %v", err)
	}
	s := stack.New(stack.Options{})
	h := &mldHost{s: s}
	var nd *ndp.Protocol
	var m *mld.Protocol
	t.Cleanup(func() {
		if m != nil {
			m.Close()
		}
		if nd != nil {
			nd.Close()
		}
		if err := s.Close(); err != nil {
			t.Errorf("stack close: %v", err)
		}
	})
	var err error
	if _, err = ipv6.Register(s, ipv6.Options{}); err != nil {
		t.Fatal(err)
	}
	if nd, err = ndp.Register(s, ndp.Options{}); err != nil {
		t.Fatal(err)
	}
	if m, err = mld.Register(s, mld.Options{}); err != nil {
		t.Fatal(err)
	}
	h.mld = m
	if _, err = udp.Register(s, udp.Options{}); err != nil {
		t.Fatal(err)
	}
	h.log = &mldLog{LinkEndpoint: link.NewEthernet(dev, mldMAC), recs: make(map[string]int)}
	if h.nic, err = s.AddNIC("tap0", h.log); err != nil {
		dev.Close()
		t.Fatal(err)
	}
	return h
}

// TestMulticastIPv6Linux is the IPv6 half of issue 14's acceptance 5: a
// stack with IPv6, NDP, MLD and UDP on tap0 in br0 has a UDP socket joined
// to ff02::1:3 (LLMNR) and one joined to ff05::1:3, both on port 5355;
// each receives what Linux sends to its group out of br0, and only that;
// the bridge's MLD snooping learns tap0 as a member of both; and tshark
// decodes every MLDv2 report we send (two TO_EX for each join, two TO_IN
// for each leave) with the Router Alert hop-by-hop option (RFC 3810 5,
// RFC 2711), good checksums and nothing malformed.
func TestMulticastIPv6Linux(t *testing.T) {
	needTools(t, "ip", "tcpdump", "tshark", "bridge")
	ns := bridgeNS(t)
	h := startMLDHost(t, ns)
	ll := ndp.LinkLocal(mldMAC)
	for _, a := range []netip.Prefix{ll, netip.MustParsePrefix("fd00::2/64")} {
		if err := h.nic.AddAddress(a); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := ns.Output("ip", "-6", "addr", "add", "fd00::1/64", "dev", "br0", "nodad"); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	// The solicited-node groups of our two addresses are reported (each
	// twice) before the capture starts, so it holds our groups' alone.
	for _, a := range []netip.Prefix{ll, netip.MustParsePrefix("fd00::2/64")} {
		sn := stack.SolicitedNodeAddress(a.Addr())
		if !poll(10*time.Second, func() bool { return h.log.count(mld.ChangeToExclude, sn) >= 2 }) {
			t.Fatalf("solicited-node group %v reported %d times, want 2", sn, h.log.count(mld.ChangeToExclude, sn))
		}
	}
	// Linux's br0 needs its link-local address (DAD done) to send to a
	// link-local group from it.
	if !poll(10*time.Second, func() bool {
		out, err := ns.Output("ip", "-6", "addr", "show", "dev", "br0", "scope", "link")
		return err == nil && strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative")
	}) {
		t.Fatal("br0 has no usable link-local address")
	}

	const reports = 8 // TO_EX twice for each of two groups, TO_IN twice for each
	wait := captureN(t, ns, "br0", "ip6 dst ff02::16 and ether src "+net.HardwareAddr(mldMAC[:]).String(), reports)

	groups := []netip.Addr{netip.MustParseAddr("ff02::1:3"), netip.MustParseAddr("ff05::1:3")}
	conns := make([]*udp.Conn, len(groups))
	for i, g := range groups {
		c, err := udp.ListenNetwork(h.s, "udp6", netip.AddrPortFrom(g, 5355))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.JoinGroup(h.nic, g); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		// One group at a time: its retransmission is not merged with the
		// other's report.
		if !poll(10*time.Second, func() bool { return h.log.count(mld.ChangeToExclude, g) >= 2 }) {
			t.Fatalf("%v reported %d times after the join, want 2", g, h.log.count(mld.ChangeToExclude, g))
		}
	}
	if n := h.s.Counters().Value("mld.tx.no_router_alert"); n != 0 {
		t.Errorf("mld.tx.no_router_alert = %d", n)
	}

	// The bridge's MLD snooping learns our memberships from the reports.
	var mdb string
	if !poll(10*time.Second, func() bool {
		mdb, _ = ns.Output("bridge", "mdb", "show", "dev", "br0")
		return strings.Contains(mdb, "tap0") && strings.Contains(mdb, "ff02::1:3") && strings.Contains(mdb, "ff05::1:3")
	}) {
		t.Errorf("bridge mdb never listed ff02::1:3 and ff05::1:3 on tap0: %q", mdb)
	}

	// A Linux socket in the namespace sends to each group out of br0
	// (IPV6_MULTICAST_IF).
	var lc *net.UDPConn
	if err := ns.Run(func() (err error) {
		br, err := net.InterfaceByName("br0")
		if err != nil {
			return err
		}
		lc, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified})
		if err != nil {
			return err
		}
		rc, err := lc.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_MULTICAST_IF, br.Index)
		}); err != nil {
			return err
		}
		return serr
	}); err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	buf := make([]byte, 1500)
	for i, g := range groups {
		msg := "to " + g.String()
		to := &net.UDPAddr{IP: net.IP(g.AsSlice()), Port: 5355}
		var n int
		var m udp.MsgInfo
		var err error
		got := false
		for try := 0; try < 20 && !got; try++ { // bounded retries: a datagram may be lost
			if _, err := lc.WriteToUDP([]byte(msg), to); err != nil {
				t.Fatal(err)
			}
			conns[i].SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, m, err = conns[i].ReadMsg(buf)
			got = err == nil
		}
		if !got || string(buf[:n]) != msg || !m.From.Addr().Is6() || m.To != netip.AddrPortFrom(g, 5355) || !m.Group {
			t.Fatalf("conn on %v read %q %+v, %v; ipv6.rx.not_for_us=%d", g, buf[:n], m, err, h.s.Counters().Value("ipv6.rx.not_for_us"))
		}
		t.Logf("%v: %q from %v", g, buf[:n], m.From)
	}
	// Neither conn got the other group's datagram.
	for i, c := range conns {
		c.SetReadDeadline(time.Now())
		if n, m, err := c.ReadMsg(buf); err == nil && m.To.Addr() != groups[i] {
			t.Errorf("conn on %v got %q for %v", groups[i], buf[:n], m.To)
		}
	}

	for i, c := range conns { // leaves: TO_IN{} twice each, one group at a time
		c.Close()
		g := groups[i]
		if !poll(10*time.Second, func() bool { return h.log.count(mld.ChangeToInclude, g) >= 2 }) {
			t.Fatalf("%v leave reported %d times, want 2", g, h.log.count(mld.ChangeToInclude, g))
		}
	}
	path := wait()

	out, err := ns.Output("tshark", "-r", path, "-V")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Count(out, "Type: Multicast Listener Report Message v2 (143)")
	ra := strings.Count(out, "Router Alert: MLD (0)")
	toEx := strings.Count(out, "Record Type: Changed to exclude (4)")
	toIn := strings.Count(out, "Record Type: Changed to include (3)")
	perGroup := map[string]int{}
	for _, g := range groups {
		perGroup[g.String()] = strings.Count(out, "Multicast Address: "+g.String())
	}
	if got != reports || ra != reports || toEx != 4 || toIn != 4 || perGroup["ff02::1:3"] != 4 || perGroup["ff05::1:3"] != 4 || strings.Count(out, "Multicast Address: ") != reports {
		t.Errorf("tshark decoded %d MLDv2 reports (%d TO_EX, %d TO_IN, %d Router Alert, per group %v), want %d (4, 4, %d, 4 each):\n%s",
			got, toEx, toIn, ra, perGroup, reports, reports, out)
	}
	for _, bad := range []string{"Malformed", "[Checksum Status: Bad]", "Expert Info (Error"} {
		if strings.Contains(out, bad) {
			t.Errorf("tshark found %q:\n%s", bad, out)
		}
	}
	mal, err := ns.Output("tshark", "-r", path, "-Y", "_ws.malformed")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(mal, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "Running as user") {
			t.Errorf("tshark -Y _ws.malformed: %q", line)
		}
	}
	t.Logf("tshark: %d MLDv2 reports (%d TO_EX, %d TO_IN), %d with Router Alert, nothing malformed; mdb: %s", got, toEx, toIn, ra, strings.TrimSpace(mdb))
}

// TestMLDQueriesFromLinuxBridge makes br0 an MLD querier (mcast_querier,
// a query every 2 s, responses within 1 s) speaking MLDv2, then MLDv1 (the
// Linux bridge's default, mcast_mld_version 1). Its general queries, which
// carry a hop-by-hop Router Alert, pass our IPv6 input to MLD
// (mld.rx.queries), and we answer them: to MLDv2 with one report of
// MODE_IS_EXCLUDE{} records for our groups (RFC 3810 6.2), to MLDv1 in
// MLDv1 compatibility mode with an MLDv1 report per group sent to the
// group (RFC 3810 8.2.1, RFC 2710 4); tshark decodes them, with Router
// Alert and nothing malformed.
func TestMLDQueriesFromLinuxBridge(t *testing.T) {
	needTools(t, "ip", "tcpdump", "tshark")
	tests := []struct {
		version string
		icmp    int // ICMPv6 type of our answer
		frames  int // answers to capture: one report, or one per group
		want    string
	}{
		{"2", 143, 1, "Multicast Address Record Exclude: "},
		{"1", 131, 2, "Multicast Address: "},
	}
	for _, tc := range tests {
		t.Run("MLDv"+tc.version, func(t *testing.T) {
			ns := bridgeNS(t)
			h := startMLDHost(t, ns)
			if err := h.nic.AddAddress(ndp.LinkLocal(mldMAC)); err != nil {
				t.Fatal(err)
			}
			group := netip.MustParseAddr("ff05::1:3")
			c, err := udp.ListenNetwork(h.s, "udp6", netip.AddrPortFrom(group, 5355))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.JoinGroup(h.nic, group); err != nil {
				t.Fatal(err)
			}
			sn := stack.SolicitedNodeAddress(ndp.LinkLocal(mldMAC).Addr())
			// Our state-change reports are all sent before the capture
			// starts: what it sees answers queries.
			if !poll(10*time.Second, func() bool {
				return h.log.count(mld.ChangeToExclude, group) >= 2 && h.log.count(mld.ChangeToExclude, sn) >= 2
			}) {
				t.Fatalf("joins reported %d and %d times, want 2", h.log.count(mld.ChangeToExclude, group), h.log.count(mld.ChangeToExclude, sn))
			}
			// Our MLD messages: next header hop-by-hop, 8 bytes of it,
			// then the ICMPv6 type.
			filter := fmt.Sprintf("ip6 and ether src %s and ip6[6] == 0 and ip6[48] == %d", net.HardwareAddr(mldMAC[:]), tc.icmp)
			wait := captureN(t, ns, "br0", filter, tc.frames)
			if out, err := ns.Output("ip", "link", "set", "br0", "type", "bridge", "mcast_querier", "1", "mcast_mld_version", tc.version,
				"mcast_query_response_interval", "100", "mcast_startup_query_interval", "100", "mcast_query_interval", "200"); err != nil {
				t.Fatalf("make br0 a querier: %v: %s", err, out)
			}
			if !poll(15*time.Second, func() bool { return h.s.Counters().Value("mld.rx.queries") > 0 }) {
				var sb strings.Builder
				for _, cv := range h.s.Counters().Snapshot() {
					if cv.Value != 0 && (strings.HasPrefix(cv.Name, "mld.") || strings.HasPrefix(cv.Name, "ipv6.rx") || strings.HasPrefix(cv.Name, "icmpv6.rx")) {
						fmt.Fprintf(&sb, " %s=%d", cv.Name, cv.Value)
					}
				}
				t.Fatalf("no query reached MLD:%s", sb.String())
			}
			path := wait()
			out, err := ns.Output("tshark", "-r", path, "-V")
			if err != nil {
				t.Fatal(err)
			}
			typ := map[int]string{143: "Type: Multicast Listener Report Message v2 (143)", 131: "Type: Multicast Listener Report (131)"}[tc.icmp]
			if strings.Count(out, typ) != tc.frames || strings.Count(out, "Router Alert: MLD (0)") != tc.frames ||
				!strings.Contains(out, tc.want+group.String()) || !strings.Contains(out, tc.want+sn.String()) {
				t.Errorf("tshark did not decode %d %q with Router Alert for %v and %v:\n%s", tc.frames, typ, group, sn, out)
			}
			for _, bad := range []string{"Malformed", "[Checksum Status: Bad]", "Expert Info (Error"} {
				if strings.Contains(out, bad) {
					t.Errorf("tshark found %q:\n%s", bad, out)
				}
			}
			t.Logf("mld.rx.queries=%d (v1 %d), MLD version %d; tshark decodes our %d answer(s) %q for %v and %v with Router Alert",
				h.s.Counters().Value("mld.rx.queries"), h.s.Counters().Value("mld.rx.v1_queries"), h.mld.Version(h.nic), tc.frames, typ, group, sn)
		})
	}
}
