package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/link/bond"
)

// TestParseBond: --bond takes Linux's option names and refuses what
// does not fit the mode, one line each.
func TestParseBond(t *testing.T) {
	good, err := parseUp([]string{"--bond", "bond0,slaves=ta0:br0+ta1:br1,mode=802.3ad,lacp_rate=fast,xmit_hash_policy=layer3+4,miimon=50", "--nic", "bond0,addr=10.0.7.1/24", "--nic", "bond0,vlan=10,addr=10.0.10.1/24"})
	if err != nil {
		t.Fatal(err)
	}
	b := good.Bonds[0]
	if b.Name != "bond0" || b.Mode != bond.LACP || !b.Fast || b.Hash != bond.Layer34 || b.MIIMon != 50*time.Millisecond ||
		len(b.Slaves) != 2 || b.Slaves[1] != (bondSlave{"ta1", "br1"}) {
		t.Fatalf("parsed %+v", b)
	}
	ab, err := parseUp([]string{"--bond", "bond0,slaves=ta0+ta1,mode=active-backup,primary=ta1,arp_ip_target=10.0.0.1", "--tap", "bond0", "--addr", "10.0.0.2/24"})
	if err != nil {
		t.Fatal(err)
	}
	if b := ab.Bonds[0]; b.Primary != "ta1" || b.ARPInterval != time.Second || len(b.ARPTargets) != 1 {
		t.Fatalf("parsed %+v", b)
	}
	opts, err := parseUp([]string{"--bond", "bond0,slaves=ta0+ta1,mode=802.3ad,lacp_active=off,min_links=2,miimon=50,updelay=200,downdelay=100", "--nic", "bond0,addr=10.0.7.1/24"})
	if err != nil {
		t.Fatal(err)
	}
	if b := opts.Bonds[0]; !b.Passive || b.MinLinks != 2 || b.UpDelay != 200*time.Millisecond || b.DownDelay != 100*time.Millisecond {
		t.Fatalf("parsed %+v", b)
	}
	for _, c := range []struct{ args, want string }{
		{"--bond bond0,slaves=ta0+ta1,mode=active-backup,lacp_active=off --nic bond0,addr=10.0.0.2/24", "go with mode=802.3ad"},
		{"--bond bond0,slaves=ta0+ta1,mode=balance-xor,min_links=1 --nic bond0,addr=10.0.0.2/24", "go with mode=802.3ad"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad,lacp_active=maybe --nic bond0,addr=10.0.0.2/24", "want on or off"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad,min_links=3 --nic bond0,addr=10.0.0.2/24", "more than its 2 slaves"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad,min_links=-1 --nic bond0,addr=10.0.0.2/24", "0..64"},
		{"--bond bond0,slaves=ta0+ta1,mode=active-backup,updelay=150 --nic bond0,addr=10.0.0.2/24", "updelay=150 is not a multiple of miimon=100"},
		{"--bond bond0,slaves=ta0+ta1,mode=active-backup,miimon=200,downdelay=300 --nic bond0,addr=10.0.0.2/24", "downdelay=300 is not a multiple of miimon=200"},
		{"--bond bond0,slaves=ta0+ta1,mode=active-backup,downdelay=x --nic bond0,addr=10.0.0.2/24", "not milliseconds"},
		{"--bond bond0,slaves=ta0+ta1 --nic bond0,addr=10.0.0.2/24", "needs mode="},
		{"--bond bond0,mode=802.3ad --nic bond0,addr=10.0.0.2/24", "needs slaves="},
		{"--bond bond0,slaves=ta0+ta1,mode=raid5 --nic bond0,addr=10.0.0.2/24", "unknown bond mode"},
		{"--bond bond0,slaves=ta0+ta0,mode=802.3ad --nic bond0,addr=10.0.0.2/24", "given twice"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad,primary=ta0 --nic bond0,addr=10.0.0.2/24", "primary= goes with mode=active-backup"},
		{"--bond bond0,slaves=ta0+ta1,mode=active-backup,primary=ta2 --nic bond0,addr=10.0.0.2/24", "not one of its slaves"},
		{"--bond bond0,slaves=ta0+ta1,mode=balance-xor,lacp_rate=fast --nic bond0,addr=10.0.0.2/24", "lacp_rate=, lacp_active= and min_links= go with mode=802.3ad"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad,arp_ip_target=10.0.0.1 --nic bond0,addr=10.0.0.2/24", "goes with mode=active-backup"},
		{"--bond bond0,slaves=ta0+ta1,mode=active-backup,arp_interval=100 --nic bond0,addr=10.0.0.2/24", "needs arp_ip_target"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad,miimon=0 --nic bond0,addr=10.0.0.2/24", "milliseconds"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad --nic bond1,addr=10.0.0.2/24", "has no interface"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad --nic bond0,addr=10.0.0.2/24 --nic ta0,addr=10.0.1.2/24", "is a slave of bond0"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad --nic bond0,bridge=br0,addr=10.0.0.2/24", "give each slave its bridge"},
		{"--bond bond0,slaves=ta0+ta1,mode=802.3ad,colour=blue --nic bond0,addr=10.0.0.2/24", "unknown key"},
	} {
		_, err := parseUp(strings.Fields(c.args))
		var ue *usageError
		if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a usage error with %q", c.args, err, c.want)
		}
	}
}
