package integration

import (
	"bufio"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/udp"
)

// TestMulticastIPv4Linux is the IPv4 half of issue 14's acceptance 5: a
// tapstack UDP socket joined to 239.1.2.3 receives what Linux sends to
// 239.1.2.3 from the bridge; our IGMPv3 reports (the join, its
// retransmission and the leave) reach the bridge, whose snooping table
// learns tap0 as a member, and tshark decodes them with nothing malformed
// and good checksums.
func TestMulticastIPv4Linux(t *testing.T) {
	needTools(t, "ip", "tcpdump", "tshark", "bridge")
	ns := bridgeNS(t)
	h := startHost(t, ns)
	if h.IGMP() == nil {
		t.Fatal("host has no IGMP")
	}
	wait := captureN(t, ns, "br0", "igmp and src host "+hostAddr, 4)

	group := netip.MustParseAddr("239.1.2.3")
	c, err := udp.Listen(h.Stack(), netip.AddrPortFrom(group, 5000))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.JoinGroup(nil, group); err != nil {
		t.Fatal(err)
	}

	tx := func() uint64 { return h.Stack().Counters().Value("igmp.tx.reports") }
	if !poll(10*time.Second, func() bool { return tx() >= 2 }) { // the join and its retransmission
		t.Fatalf("igmp.tx.reports = %d after the join, want 2", tx())
	}

	// The bridge's IGMP snooping learns our membership from the report.
	var mdb string
	if !poll(10*time.Second, func() bool {
		mdb, _ = ns.Output("bridge", "mdb", "show", "dev", "br0")
		return strings.Contains(mdb, "239.1.2.3") && strings.Contains(mdb, "tap0")
	}) {
		t.Errorf("bridge mdb never listed 239.1.2.3 on tap0: %q", mdb)
	}

	// A Linux socket in the namespace sends to the group out of br0
	// (IP_MULTICAST_IF: the namespace has no route to 224/4).
	var lc *net.UDPConn
	if err := ns.Run(func() (err error) {
		lc, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(bridgeAddr)}, &net.UDPAddr{IP: net.IP(group.AsSlice()), Port: 5000})
		if err != nil {
			return err
		}
		rc, err := lc.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInet4Addr(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, [4]byte{10, 0, 0, 1})
		}); err != nil {
			return err
		}
		return serr
	}); err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	buf := make([]byte, 1500)
	var n int
	var m udp.MsgInfo
	got := false
	for i := 0; i < 20 && !got; i++ { // bounded retries: a datagram may be lost
		if _, err := lc.Write([]byte("to the group")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, m, err = c.ReadMsg(buf)
		got = err == nil
	}
	if !got || string(buf[:n]) != "to the group" || m.From.Addr() != netip.MustParseAddr(bridgeAddr) || m.To != netip.AddrPortFrom(group, 5000) || !m.Group {
		t.Fatalf("read %q %+v, %v; ipv4.rx.not_member=%d", buf[:n], m, err, h.Stack().Counters().Value("ipv4.rx.not_member"))
	}

	c.Close() // leaves: TO_IN{} twice
	path := wait()
	var out string
	out, err = ns.Output("tshark", "-r", path, "-V", "-Y", "igmp")
	if err != nil {
		t.Fatal(err)
	}
	reports := strings.Count(out, "Type: Membership Report (0x22)")
	toEx := strings.Count(out, "Record Type: Change To Exclude Mode (4)")
	toIn := strings.Count(out, "Record Type: Change To Include Mode (3)")
	if reports < 4 || toEx < 2 || toIn < 2 || !strings.Contains(out, "Router Alert") {
		t.Errorf("tshark decoded %d v3 reports (%d TO_EX, %d TO_IN), want 4 (2, 2) with Router Alert:\n%s", reports, toEx, toIn, out)
	}
	for _, bad := range []string{"Malformed", "[Checksum Status: Bad]", "Expert Info (Error"} {
		if strings.Contains(out, bad) {
			t.Errorf("tshark found %q:\n%s", bad, out)
		}
	}
	t.Logf("tshark: %d IGMPv3 reports (%d TO_EX, %d TO_IN), nothing malformed; mdb: %s", reports, toEx, toIn, strings.TrimSpace(mdb))
}

// captureN runs tcpdump on iface inside ns until it has written n frames
// matching filter to a pcap file; wait returns the file's path once
// tcpdump has exited on its own (no frame is lost to a stop signal), or
// fails the test after a bounded wait.
func captureN(t *testing.T, ns *netnstest.NS, iface, filter string, n int) (wait func() string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capture.pcap")
	cmd := ns.Cmd("tcpdump", "-Z", "root", "-i", iface, "-U", "-n", "-c", strconv.Itoa(n), "-w", path, filter)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "listening on") {
				once = true
				close(ready)
			}
		}
		if !once {
			close(ready)
		}
	}()
	done := make(chan error, 1)
	go func() { <-ready; done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("tcpdump did not start listening")
	}
	return func() string {
		t.Helper()
		select {
		case <-done:
		case <-time.After(20 * time.Second): // failure guard only
			t.Fatalf("tcpdump did not see %d frames matching %q", n, filter)
		}
		return path
	}
}
