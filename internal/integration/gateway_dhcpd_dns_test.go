package integration

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapstack/tapstack/dhcp/server"
	"github.com/tapstack/tapstack/dns/forward"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/tap"
)

// gwTable is a forward.Resolver with fixed answers, standing for the
// gateway namespace's resolver.
type gwTable map[string][]netip.Addr

func (g gwTable) LookupNetIP(_ context.Context, _, name string) ([]netip.Addr, error) {
	if a, ok := g[name]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (g gwTable) LookupAddr(context.Context, string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

// Issue 16, acceptance 1 (DHCP and DNS part): Linux in the test namespace
// is the guest, on bridge br0 with no address; a tapstack host on tap0 in
// the bridge is the gateway at 10.0.2.2 (and 10.0.2.3) running the DHCP
// server and the DNS forwarder. busybox udhcpc gets 10.0.2.15 with router
// 10.0.2.2 and DNS 10.0.2.3; busybox nslookup resolves a name only the
// gateway's resolver knows, and the lease table shows the guest.
func TestGatewayDHCPAndDNSToBusybox(t *testing.T) {
	needTools(t, "busybox", "ip")
	ns := netnstest.New(t)
	ns.AddBridge("br0", "")
	var dev *tap.Device
	if err := ns.Run(func() (err error) {
		dev, err = tap.Open(tap.Config{Name: "tap0", Bridge: "br0", NoOffload: true})
		return err
	}); err != nil {
		t.Fatalf("open tap0: %v", err)
	}
	h, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{Name: "tap0", Device: dev,
		Addr: netip.MustParsePrefix("10.0.2.2/24"), Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.2.3/24")}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s := h.Stack()
	srv, err := server.New(s, s.NIC("tap0"), server.Config{
		Subnet: netip.MustParsePrefix("10.0.2.0/24"), Router: netip.MustParseAddr("10.0.2.2"),
		DNS: []netip.Addr{netip.MustParseAddr("10.0.2.3")}, RangeStart: netip.MustParseAddr("10.0.2.15"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	fwd, err := forward.New(s, forward.Config{Addr: netip.MustParseAddrPort("10.0.2.3:53"),
		Resolver: gwTable{"web.test.": {netip.MustParseAddr("10.9.9.9")}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fwd.Close() })

	// udhcpc's script records what it was given and configures br0.
	dir := t.TempDir()
	env, script := filepath.Join(dir, "env"), filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"+
		"echo \"$1 ip=$ip mask=$mask router=$router dns=$dns lease=$lease serverid=$serverid\" >> "+env+"\n"+
		"[ \"$1\" = bound ] && ip addr add $ip/$mask dev $interface\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := ns.Output("busybox", "udhcpc", "-i", "br0", "-f", "-q", "-n", "-t", "5", "-T", "2", "-s", script)
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(env)
	t.Logf("udhcpc: %s", got)
	want := "bound ip=10.0.2.15 mask=24 router=10.0.2.2 dns=10.0.2.3 lease=3600 serverid=10.0.2.2"
	if !strings.Contains(string(got), want) {
		t.Fatalf("udhcpc script saw\n%s\nwant a line %q", got, want)
	}
	if addrs, _ := ns.Output("ip", "-4", "addr", "show", "br0"); !strings.Contains(addrs, "10.0.2.15/24") {
		t.Fatalf("br0 after udhcpc:\n%s", addrs)
	}
	ls := srv.Leases()
	if len(ls) != 1 || ls[0].State != server.Bound || ls[0].Addr != netip.MustParseAddr("10.0.2.15") {
		t.Fatalf("lease table %+v", ls)
	}

	out, err = ns.Output("busybox", "nslookup", "web.test", "10.0.2.3")
	if err != nil || !strings.Contains(out, "10.9.9.9") {
		t.Fatalf("nslookup web.test: %v\n%s", err, out)
	}
	out, _ = ns.Output("busybox", "nslookup", "nope.test", "10.0.2.3")
	if !strings.Contains(strings.ToUpper(out), "NXDOMAIN") {
		t.Errorf("nslookup nope.test did not report NXDOMAIN:\n%s", out)
	}
	if n := s.Counters().Value("dnsfwd.rx.queries"); n == 0 {
		t.Error("no queries counted")
	}
}
