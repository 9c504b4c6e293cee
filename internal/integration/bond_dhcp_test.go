package integration

import (
	"strings"
	"testing"
	"time"
)

// TestBondDHCP: a bond is an interface like a TAP for DHCP too: `up
// --bond ... --tap bond0 --dhcp` gets its address from dnsmasq on br0
// through the primary slave and stays reachable at that address after a
// failover to the slave on br1.
func TestBondDHCP(t *testing.T) {
	needTools(t, "ip", "ping")
	ns := abTopologyAt(t, bridgeAddr+"/24")
	startDnsmasq(t, ns, "--no-ping") // no 3 s wait for an echo before the offer
	line, _ := startTapstack(t, ns, "tapstack: up on bond0 as 10.0.0.",
		"up", "--bond", "bond0,slaves=ta0:br0+ta1:br1,mode=active-backup,primary=ta0", "--tap", "bond0", "--dhcp", "--no-dad")
	addr, _, _ := strings.Cut(strings.TrimPrefix(line, "tapstack: up on bond0 as "), "/")
	if !strings.Contains(line, "(DHCP from "+bridgeAddr+")") {
		t.Fatalf("up line %q lacks the lease", line)
	}
	if out, err := ns.Output("ping", "-c", "1", "-W", "2", addr); err != nil {
		t.Fatalf("ping %s: %v\n%s", addr, err, out)
	}
	if out, err := ns.Output("ip", "link", "set", "ta0", "down"); err != nil {
		t.Fatal(err, out)
	}
	if _, ok := waitFor(5*time.Second, func() bool { return strings.Contains(bondCmd(t, ns), "Currently Active Slave: ta1\n") }); !ok {
		t.Fatalf("no failover:\n%s", bondCmd(t, ns))
	}
	if out, err := ns.Output("ping", "-c", "1", "-W", "2", addr); err != nil {
		t.Fatalf("ping %s after the failover: %v\n%s", addr, err, out)
	}
}
