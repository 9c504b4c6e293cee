package integration

import (
	"strings"
	"testing"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// arpNS makes a namespace with bridge br0 at cidr whose kernel accepts
// gratuitous ARP (arp_accept=1, set before anything else runs).
func arpNS(t *testing.T, cidr string) *netnstest.NS {
	t.Helper()
	needTools(t, "ip", "ping", "arping")
	ns := netnstest.New(t)
	ns.AddBridge("br0", cidr)
	if _, err := ns.Output("sysctl", "-qw", "net.ipv4.conf.br0.arp_accept=1"); err != nil {
		t.Fatal(err)
	}
	return ns
}

// TestARPAnnounceArpingConflict: the kernel learns tapstack's MAC from its
// gratuitous ARP before any traffic, arping gets replies, and a second
// `tapstack up` with the same address (or with the bridge's) refuses with
// one line (issue 6, acceptance 1).
func TestARPAnnounceArpingConflict(t *testing.T) {
	ns := arpNS(t, "10.0.0.1/24")
	startTapstack(t, ns, "tapstack: up on tap0 (bridge br0) as 10.0.0.2/24 fe80::ff:fe00:2/64 mac 02:00:00:00:00:02",
		"up", "--tap", "tap0", "--bridge", "br0", "--addr", "10.0.0.2/24", "--mac", "02:00:00:00:00:02")

	// The up line is printed after the address was announced: the
	// kernel's neighbour table holds our MAC with no traffic at all.
	out, err := ns.Output("ip", "neigh", "show", "10.0.0.2", "dev", "br0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "lladdr 02:00:00:00:00:02") {
		t.Fatalf("kernel did not learn the gratuitous ARP: ip neigh: %q", out)
	}
	out, err = ns.Output("arping", "-c", "2", "-w", "5", "-I", "br0", "10.0.0.2")
	if err != nil || !strings.Contains(out, "reply from 10.0.0.2 [02:00:00:00:00:02]") {
		t.Fatalf("arping: %v\n%s", err, out)
	}

	for _, tt := range []struct{ addr, want string }{
		{"10.0.0.2/24", "tapstack: 10.0.0.2 is already in use on br0 by 02:00:00:00:00:02; choose another address"},
		{"10.0.0.1/24", "tapstack: 10.0.0.1 is already in use on br0 by "},
	} {
		cmd := ns.Cmd(binary(t), "up", "--tap", "tap1", "--bridge", "br0", "--addr", tt.addr)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("second tapstack up --addr %s: exit %d (%v), want 1; stdout %q", tt.addr, code, err, stdout.String())
		}
		if s := stderr.String(); !strings.HasPrefix(s, tt.want) || strings.Count(s, "\n") != 1 {
			t.Errorf("second tapstack up --addr %s: stderr %q, want one line starting %q", tt.addr, s, tt.want)
		} else {
			t.Logf("second tapstack up --addr %s: %s", tt.addr, strings.TrimSpace(s))
		}
	}
	// The first host still has its address.
	if out, err := ns.Output("ping", "-c", "1", "-W", "5", "10.0.0.2"); err != nil {
		t.Fatalf("first host after the conflicts: %v\n%s", err, out)
	}
}

// TestARPStaticProxyAndTable: a static entry overrides what traffic
// teaches, published entries answer for other addresses, `tapstack arp`
// prints the table (with an incomplete entry) and -d / --flush change it
// (issue 6, acceptance 1 and 3).
func TestARPStaticProxyAndTable(t *testing.T) {
	ns := arpNS(t, "10.0.0.1/24")
	bin := binary(t)
	startTapstack(t, ns, "tapstack: up on tap0",
		"up", "--tap", "tap0", "--bridge", "br0", "--addr", "10.0.0.2/24", "--mac", "02:00:00:00:00:02",
		"--gateway", "10.0.0.99", // nobody has it: its entry stays incomplete
		"--arp", "10.0.0.1=02:00:00:00:00:77", // the bridge's address, with a wrong MAC
		"--arp-proxy", "10.0.0.100", "--arp-proxy", "10.0.0.101=02:00:00:00:01:01")

	// Published entries: arping gets answers for 10.0.0.100 (our MAC)
	// and 10.0.0.101 (the configured one), none for 10.0.0.102.
	for _, tt := range []struct{ target, want string }{
		{"10.0.0.100", "reply from 10.0.0.100 [02:00:00:00:00:02]"},
		{"10.0.0.101", "reply from 10.0.0.101 [02:00:00:00:01:01]"},
	} {
		out, err := ns.Output("arping", "-c", "1", "-w", "5", "-I", "br0", tt.target)
		if err != nil || !strings.Contains(out, tt.want) {
			t.Errorf("arping %s: %v\n%s", tt.target, err, out)
		}
	}
	if out, err := ns.Output("arping", "-c", "1", "-w", "2", "-I", "br0", "10.0.0.102"); err == nil {
		t.Errorf("arping 10.0.0.102 (not published) got a reply:\n%s", out)
	}

	// The static entry wins over the kernel's ARP request: our echo
	// replies go to 02:00:00:00:00:77, which is nobody, so ping fails.
	if out, err := ns.Output("ping", "-c", "2", "-W", "2", "10.0.0.2"); err == nil {
		t.Errorf("ping succeeded although the static entry points 10.0.0.1 at a wrong MAC:\n%s", out)
	}
	// A packet for the gateway (a reply to a source off the subnet)
	// leaves an incomplete entry for 10.0.0.99.
	if _, err := ns.Output("ip", "addr", "add", "10.9.9.9/32", "dev", "br0"); err != nil {
		t.Fatal(err)
	}
	runOut(ns, "ping", "-c", "1", "-W", "1", "-I", "10.9.9.9", "10.0.0.2")

	table, err := ns.Output(bin, "arp")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tapstack arp:\n%s", table)
	for _, want := range []string{
		"Address                  HWtype  HWaddress           Flags Mask            Iface\n",
		"10.0.0.1                 ether   02:00:00:00:00:77   CM                    tap0\n",
		"10.0.0.99                        (incomplete)                              tap0\n",
		"10.0.0.100               *       <from_interface>    MP                    tap0\n",
		"10.0.0.101               ether   02:00:00:00:01:01   CMP                   tap0\n",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("tapstack arp lacks %q", want)
		}
	}
	status, err := ns.Output(bin, "status")
	if err != nil || !strings.Contains(status, "10.0.0.1                 ether   02:00:00:00:00:77   CM") {
		t.Errorf("status page lacks the ARP table: %v\n%s", err, status)
	}

	// arp -d removes the static entry: the next ping is answered (the
	// entry is learned from the kernel's request).
	if out, err := ns.Output(bin, "arp", "-d", "10.0.0.1"); err != nil {
		t.Fatal(err, out)
	}
	if out, err := ns.Output("ping", "-c", "1", "-W", "5", "10.0.0.2"); err != nil {
		t.Fatalf("ping after arp -d: %v\n%s", err, out)
	}
	table, _ = ns.Output(bin, "arp")
	if !strings.Contains(table, "10.0.0.1                 ether") || strings.Contains(table, "02:00:00:00:00:77") {
		t.Errorf("after arp -d and a ping, want a learned entry for 10.0.0.1:\n%s", table)
	}
	out := runOut(ns, bin, "arp", "-d", "10.0.0.55")
	if !strings.HasPrefix(out, "tapstack: no ARP entry for 10.0.0.55") {
		t.Errorf("arp -d of a missing entry: %q", out)
	}
	// --flush removes learned entries, published ones stay.
	if out, err := ns.Output(bin, "arp", "--flush"); err != nil || !strings.HasPrefix(out, "flushed ") {
		t.Fatalf("arp --flush: %v %q", err, out)
	}
	table, _ = ns.Output(bin, "arp")
	if strings.Contains(table, "10.0.0.1 ") || !strings.Contains(table, "10.0.0.100") {
		t.Errorf("after --flush:\n%s", table)
	}
}

// TestARPTableCommandsWithoutHost: route and arp without a running host
// say so in one line and exit 1.
func TestARPTableCommandsWithoutHost(t *testing.T) {
	ns := netnstest.New(t)
	for _, args := range [][]string{{"arp"}, {"route"}, {"arp", "--tap", "tap9"}} {
		cmd := ns.Cmd(binary(t), args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
		if s := stderr.String(); !strings.HasPrefix(s, "tapstack: no tapstack host") || strings.Count(s, "\n") != 1 {
			t.Errorf("%v: stderr %q", args, s)
		}
	}
}
