package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/internal/netnstest"
)

// abTopology makes br0 (the Linux host, 10.0.8.1/24) and br1 joined by
// an inter-switch veth link isl0-isl1, like two switches.
func abTopology(t *testing.T) *netnstest.NS {
	t.Helper()
	return abTopologyAt(t, "10.0.8.1/24")
}

// abTopologyAt is abTopology with the Linux host at cidr.
func abTopologyAt(t *testing.T, cidr string) *netnstest.NS {
	t.Helper()
	ns := netnstest.New(t)
	ns.AddBridge("br0", cidr)
	ns.AddBridge("br1", "")
	for _, cmd := range [][]string{
		// A fixed MAC: a bridge otherwise takes its lowest port's, and
		// changing it (a TAP going down) flushes its neighbour table.
		{"ip", "link", "set", "br0", "address", "02:00:00:00:00:fe"},
		{"ip", "link", "add", "isl0", "type", "veth", "peer", "name", "isl1"},
		{"ip", "link", "set", "isl0", "master", "br0", "up"},
		{"ip", "link", "set", "isl1", "master", "br1", "up"},
	} {
		if out, err := ns.Output(cmd[0], cmd[1:]...); err != nil {
			t.Fatalf("%v: %v %s", cmd, err, out)
		}
	}
	return ns
}

// fdbPort returns the port of br0 where mac is learnt ("" if nowhere).
func fdbPort(ns *netnstest.NS, mac string) string {
	out, _ := ns.Output("bridge", "fdb", "show", "br", "br0")
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == mac && f[1] == "dev" {
			return f[2]
		}
	}
	return ""
}

// TestBondActiveBackupLinux is issue 18's acceptance 2: an
// active-backup bond (primary ta0 on br0, ta1 on br1, ARP monitoring of
// the Linux host) keeps a ping and a TCP echo transfer from Linux going
// through a failover when ta0 goes down (carrier, seen through
// netlink): the bond announces itself by gratuitous ARP on ta1 at once,
// so br0 learns our MAC behind the inter-switch link before Linux sends
// anything; the primary takes over again when it is back; and when
// ta0's bridge port silently drops everything (STP state disabled,
// carrier up), the ARP monitor fails over again. The transfer is
// byte-exact.
func TestBondActiveBackupLinux(t *testing.T) {
	needTools(t, "ip", "ping", "bridge")
	ns := abTopology(t)
	const mac = "02:00:00:00:08:02"
	startTapstack(t, ns, "tapstack: up on bond0 as 10.0.8.2/24",
		"up", "--bond", "bond0,slaves=ta0:br0+ta1:br1,mode=active-backup,primary=ta0,miimon=50,arp_ip_target=10.0.8.1,arp_interval=100",
		"--nic", "bond0,addr=10.0.8.2/24,mac="+mac, "--no-dad")
	if out, err := ns.Output("ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.8.2"); err != nil {
		t.Fatalf("ping before failover: %v\n%s", err, out)
	}
	active := func(name string) func() bool {
		return func() bool { return strings.Contains(bondCmd(t, ns), "Currently Active Slave: "+name+"\n") }
	}
	if !active("ta0")() {
		t.Fatalf("primary not active:\n%s", bondCmd(t, ns))
	}
	if p := fdbPort(ns, mac); p != "ta0" {
		t.Fatalf("br0 learnt our MAC on %q, want ta0", p)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := linuxDial(ctx, ns, "tcp4", "10.0.8.2:7")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	failedOver, silent := make(chan struct{}), make(chan struct{})
	echoErr := make(chan error, 1)
	go func() { echoErr <- phasedEcho(c, 18, 1<<20, failedOver, silent) }()

	// 1. Carrier loss of the primary.
	if out, err := ns.Output("ip", "link", "set", "ta0", "down"); err != nil {
		t.Fatal(err, out)
	}
	took, ok := waitFor(5*time.Second, active("ta1"))
	if !ok {
		t.Fatalf("no failover to ta1:\n%s", bondCmd(t, ns))
	}
	t.Logf("failover to ta1 %v after ta0 went down", took)
	// The gratuitous ARP from ta1 taught br0 where we are now.
	if _, ok := waitFor(2*time.Second, func() bool { return fdbPort(ns, mac) == "isl0" }); !ok {
		t.Errorf("br0 learnt our MAC on %q after the failover, want isl0 (behind br1)", fdbPort(ns, mac))
	}
	out := bondCmd(t, ns)
	if !strings.Contains(slaveSection(out, "ta0"), "MII Status: down") || !strings.Contains(slaveSection(out, "ta0"), "Link Failure Count: 1") {
		t.Errorf("ta0 after going down:\n%s", out)
	}
	if out, err := ns.Output("ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.8.2"); err != nil {
		t.Errorf("ping after failover: %v\n%s", err, out)
	}
	close(failedOver)

	t.Logf("ping after failover done")
	// 2. The primary returns.
	if out, err := ns.Output("ip", "link", "set", "ta0", "up"); err != nil {
		t.Fatal(err, out)
	}
	if _, ok := waitFor(5*time.Second, active("ta0")); !ok {
		t.Fatalf("primary did not take over again:\n%s", bondCmd(t, ns))
	}

	t.Logf("primary back")
	// 3. ta0's bridge port drops everything silently: only the ARP
	// monitor can tell.
	if out, err := ns.Output("bridge", "link", "set", "dev", "ta0", "state", "0"); err != nil {
		t.Fatalf("disable ta0's bridge port: %v %s", err, out)
	}
	took, ok = waitFor(5*time.Second, active("ta1"))
	if !ok {
		t.Fatalf("ARP monitor did not fail over:\n%s", bondCmd(t, ns))
	}
	t.Logf("ARP monitor failed over %v after ta0's port went silent", took)
	out = bondCmd(t, ns)
	if sec := slaveSection(out, "ta0"); !strings.Contains(sec, "MII Status: up") || !strings.Contains(sec, "ARP Status: down") {
		t.Errorf("ta0 with a silent port:\n%s", out)
	}
	close(silent)
	echoStart := time.Now()
	if err := <-echoErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("echo finished %v after the last gate", time.Since(echoStart))
	if out, err := ns.Output("ping", "-c", "2", "-i", "0.2", "-W", "2", "10.0.8.2"); err != nil {
		t.Errorf("ping after the ARP monitor's failover: %v\n%s", err, out)
	}
	if st, err := ns.Output(binary(t), "status"); err != nil || !strings.Contains(st, "bond bond0: mode active-backup, mii up, active ta1") {
		t.Errorf("tapstack status lacks the bond (%v):\n%s", err, st)
	}
	neigh, _ := ns.Output("ip", "neigh", "show", "10.0.8.2")
	if !strings.Contains(neigh, mac) {
		t.Errorf("Linux's neighbour entry: %q, want lladdr %s", neigh, mac)
	}
	t.Logf("Linux neighbour: %s; tapstack bond:\n%s", strings.TrimSpace(neigh), out)
}
