package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/stack"
)

// TestBondVLAN is issue 18's acceptance 3, the MAAS layout: `tapstack
// up --bond bond0,... --nic bond0,vlan=10,addr=...` (an 802.1Q trunk on
// the bond) is reached on VLAN 10 by a second tapstack trunked on br0,
// before and after a failover to the slave on br1; the failover
// announces the VLAN address with a tagged gratuitous ARP, and the
// untagged ones with a gratuitous ARP and an unsolicited NA that
// correct a wrong MAC in Linux's neighbour tables (acceptance 2).
func TestBondVLAN(t *testing.T) {
	needTools(t, "ip", "ping", "bridge")
	ns := abTopology(t)
	const mac = "02:00:00:00:10:01"
	startTapstack(t, ns, "tapstack: up on bond0 as 10.0.8.2/24 fd00:8::2/64",
		"up", "--bond", "bond0,slaves=ta0:br0+ta1:br1,mode=active-backup,primary=ta0",
		"--nic", "bond0,addr=10.0.8.2/24,addr=fd00:8::2/64,mac="+mac, "--nic", "bond0,vlan=10,addr=10.0.10.1/24", "--no-dad")
	// Linux (br0, 10.0.8.1) knows us, then is told a wrong MAC: only
	// our gratuitous ARP can set it right (no ARP monitor here, and
	// nothing else is sent to Linux).
	if out, err := ns.Output("ip", "addr", "add", "fd00:8::1/64", "dev", "br0", "nodad"); err != nil {
		t.Fatal(err, out)
	}
	for _, ip := range []string{"10.0.8.2", "fd00:8::2"} {
		if out, err := ns.Output("ping", "-c", "1", "-W", "2", ip); err != nil {
			t.Fatalf("ping: %v\n%s", err, out)
		}
		if out, err := ns.Output("ip", "neigh", "replace", ip, "lladdr", "02:de:ad:be:ef:01", "dev", "br0", "nud", "stale"); err != nil {
			t.Fatal(err, out)
		}
	}
	peer := trunkHost(t, ns, "tap1", stack.MAC{2, 0, 0, 0, 0x10, 3}, map[uint16]string{10: "10.0.10.3/24"})
	for i, step := range []string{"before the failover", "after the failover"} {
		if i == 1 {
			if out, err := ns.Output("ip", "link", "set", "ta0", "down"); err != nil {
				t.Fatal(err, out)
			}
			if _, ok := waitFor(5*time.Second, func() bool { return strings.Contains(bondCmd(t, ns), "Currently Active Slave: ta1\n") }); !ok {
				t.Fatalf("no failover:\n%s", bondCmd(t, ns))
			}
			// The tagged gratuitous ARP moved br0's entry for our MAC
			// behind the inter-switch link.
			if _, ok := waitFor(2*time.Second, func() bool { return fdbPort(ns, mac) == "isl0" }); !ok {
				t.Errorf("br0 has our MAC on %q after the failover, want isl0", fdbPort(ns, mac))
			}
			// Linux's neighbour entries followed the gratuitous ARP
			// and the unsolicited NA (Override).
			for _, ip := range []string{"10.0.8.2", "fd00:8::2"} {
				if took, ok := waitFor(2*time.Second, func() bool {
					out, _ := ns.Output("ip", "neigh", "show", ip, "dev", "br0")
					return strings.Contains(out, mac)
				}); ok {
					t.Logf("Linux's entry for %s has our MAC %v after the failover", ip, took)
				} else {
					out, _ := ns.Output("ip", "-s", "neigh", "show", "nud", "all")
					t.Errorf("Linux's neighbour entry for %s did not follow our announcement:\n%s", ip, out)
				}
			}
		}
		c := dialEcho(t, peer, "10.0.10.1")
		if err := phasedEcho(c, uint64(i+7), 256<<10); err != nil {
			t.Errorf("VLAN 10 echo %s: %v", step, err)
		}
		c.Close()
	}
	out, err := ns.Output(binary(t), "route", "--tap", "bond0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "10.0.10.0/24 dev bond0.10") {
		t.Errorf("tapstack route lacks bond0.10:\n%s", out)
	}
}
