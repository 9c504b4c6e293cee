package arp_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// kernelHost is a stack with ARP (and the fake IPv4) on a TAP of br0.
type kernelHost struct {
	s   *stack.Stack
	arp *arp.Protocol
	nic *stack.NIC
}

func newKernelHost(t *testing.T, ns *netnstest.NS, name string, mac stack.MAC, opts arp.Options) *kernelHost {
	t.Helper()
	var d *tap.Device
	if err := ns.Run(func() (err error) {
		d, err = tap.Open(tap.Config{Name: name, Bridge: "br0", NoOffload: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	h := &kernelHost{s: stack.New(stack.Options{})}
	t.Cleanup(func() { h.s.Close() })
	var err error
	if h.arp, err = arp.Register(h.s, opts); err != nil {
		t.Fatal(err)
	}
	if err := h.s.RegisterNetwork(&fakeIPv4{}); err != nil {
		t.Fatal(err)
	}
	if h.nic, err = h.s.AddNIC(name, link.NewEthernet(d, mac)); err != nil {
		t.Fatal(err)
	}
	return h
}

// fastProbes shortens conflict detection for the wall clock.
var fastProbes = arp.Options{ProbeWait: 10 * time.Millisecond, ProbeMin: 50 * time.Millisecond, ProbeMax: 100 * time.Millisecond, AnnounceWait: 300 * time.Millisecond}

// TestAgainstLinux exercises ARP against the Linux kernel on a bridge in a
// private namespace: the kernel learns our gratuitous ARP (arp_accept=1),
// arping gets replies for our address and a published one, arping's
// duplicate address detection finds our address in use, and our Probe
// finds the bridge's address and another stack's address in use.
func TestAgainstLinux(t *testing.T) {
	ns := netnstest.New(t)
	ns.AddBridge("br0", "10.0.0.1/24")
	if _, err := ns.Output("sysctl", "-qw", "net.ipv4.conf.br0.arp_accept=1"); err != nil {
		t.Fatal(err)
	}
	a := newKernelHost(t, ns, "tap0", ourMAC, fastProbes)

	// Conflict detection first: 10.0.0.2 is free, 10.0.0.1 is the
	// kernel's.
	ctx := context.Background()
	err := a.arp.Probe(ctx, a.nic, netip.MustParseAddr("10.0.0.1"))
	var ce *arp.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, stack.ErrAddressInUse) {
		t.Fatalf("Probe for the bridge's address = %v, want a conflict", err)
	}
	brMAC, err := ns.Output("cat", "/sys/class/net/br0/address")
	if err != nil {
		t.Fatal(err)
	}
	if ce.MAC.String() != strings.TrimSpace(brMAC) {
		t.Errorf("conflict names %v, the bridge is %s", ce.MAC, brMAC)
	}
	if err := a.arp.Probe(ctx, a.nic, ourIP); err != nil {
		t.Fatalf("Probe for a free address: %v", err)
	}

	// The announcement teaches the kernel our MAC before any traffic.
	if err := a.nic.AddAddress(netip.MustParsePrefix("10.0.0.2/24")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := ns.Output("ip", "neigh", "show", "10.0.0.2", "dev", "br0")
		if strings.Contains(out, ourMAC.String()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kernel did not learn our gratuitous ARP: %q", out)
		}
		time.Sleep(10 * time.Millisecond) // polling the kernel's table; failure guard above
	}

	// arping gets a reply from our MAC, for our address and for a
	// published one.
	if err := a.arp.AddPublished(a.nic, netip.MustParsePrefix("10.0.0.50/32"), stack.MAC{}); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"10.0.0.2", "10.0.0.50"} {
		out, err := ns.Output("arping", "-c", "1", "-w", "5", "-I", "br0", target)
		if err != nil {
			t.Fatalf("arping %s: %v", target, err)
		}
		if !strings.Contains(strings.ToLower(out), ourMAC.String()) {
			t.Errorf("arping %s: %s", target, out)
		}
	}
	// arping -D (duplicate address detection) finds our address in use:
	// exit status 1.
	if out, err := ns.Output("arping", "-D", "-c", "2", "-w", "5", "-I", "br0", "10.0.0.2"); err == nil {
		t.Errorf("arping -D found 10.0.0.2 free: %s", out)
	}

	// A second stack on the same bridge refuses our address.
	b := newKernelHost(t, ns, "tap1", peerMAC, fastProbes)
	err = b.arp.Probe(ctx, b.nic, ourIP)
	if !errors.As(err, &ce) || ce.MAC != ourMAC {
		t.Fatalf("second host's Probe for 10.0.0.2 = %v, want a conflict with %v", err, ourMAC)
	}
	t.Logf("second host: %v", err)
}
