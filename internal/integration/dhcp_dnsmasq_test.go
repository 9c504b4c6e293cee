package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/tcp"
)

// Issue 8, acceptance 1: dnsmasq on the bridge leases tapstack an address
// from its range (after an RFC 5227 probe); Linux pings it and curls a page
// served there; the client renews (T1 shortened to 2s: dnsmasq's shortest
// lease is two minutes) and releases on Close, which dnsmasq's lease file
// shows.
func TestDHCPFromDnsmasq(t *testing.T) {
	needTools(t, "ping", "curl")
	ns := bridgeNS(t)
	dm := startDnsmasq(t, ns)
	h := startBareHost(t, ns)

	bound := make(chan dhcp.Lease, 16)
	c := dhcp.New(h.s, h.nic, dhcp.Options{
		Hostname:   "tapvm",
		Probe:      h.arp.Probe,
		RenewAfter: 2 * time.Second,
		OnBound:    func(l dhcp.Lease) { bound <- l },
		Logf:       t.Logf,
	})
	c.Start()
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := c.WaitBound(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lease: %v", l)
	addr := l.Addr.Addr()
	if !inRange(addr) || l.Addr.Bits() != 24 || l.Router != netip.MustParseAddr(bridgeAddr) ||
		len(l.DNS) == 0 || l.DNS[0] != netip.MustParseAddr(bridgeAddr) || l.Server != netip.MustParseAddr(bridgeAddr) || l.LeaseTime != 2*time.Minute {
		t.Errorf("lease %v (lease time %v), want an address in 10.0.0.50-60/24 via, dns and server 10.0.0.1, 2m", l, l.LeaseTime)
	}
	if !h.nic.HasAddress(addr) {
		t.Fatalf("NIC addresses %v", h.nic.Addresses())
	}
	mac := h.nic.LinkAddress().String()
	// dnsmasq writes its lease file after it sends the ACK, in its own time.
	shows := func() bool {
		ls := dm.leases()
		return strings.Contains(ls, addr.String()) && strings.Contains(ls, mac) && strings.Contains(ls, "tapvm")
	}
	if !poll(10*time.Second, shows) {
		t.Errorf("dnsmasq lease file does not show %v %v tapvm:\n%s", addr, mac, dm.leases())
	}

	// Reachable there: ping and curl from Linux.
	if out, err := ns.Output("ping", "-c1", "-W5", addr.String()); err != nil {
		t.Errorf("ping %v: %v\n%s", addr, err, out)
	}
	ln, err := tcp.Listen(h.s, netip.AddrPortFrom(netip.IPv4Unspecified(), 80))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", addr)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	out, err := ns.Output("curl", "-sS", "--max-time", "20", "http://"+addr.String()+"/")
	if err != nil || out != "hello from "+addr.String()+"\n" {
		t.Errorf("curl: %q, %v", out, err)
	}

	// Renewal: the next bound lease is a renewal of the same address, and
	// dnsmasq logged a second REQUEST/ACK for it.
	<-bound // the first
	select {
	case l2 := <-bound:
		if l2.Addr != l.Addr || !l2.Obtained.After(l.Obtained) {
			t.Errorf("renewed lease %v obtained %v, first %v obtained %v", l2, l2.Obtained, l, l.Obtained)
		}
	case <-ctx.Done():
		t.Fatal("no renewal")
	}
	if !dm.waitLog(func(s string) bool { return strings.Contains(s, "DHCPACK(br0) "+addr.String()+" ") }, 2) {
		t.Errorf("dnsmasq logged %d DHCPACKs for %v, want 2 (bind and renew)", dm.count("DHCPACK(br0) "+addr.String()+" "), addr)
	}
	if n := dm.count("DHCPREQUEST(br0) " + addr.String() + " "); n < 2 {
		t.Errorf("dnsmasq logged %d DHCPREQUESTs for %v, want at least 2", n, addr)
	}

	// Release on Close: dnsmasq drops the lease from its file.
	closed = true
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(h.nic.Addresses()) != 0 {
		t.Errorf("addresses after release: %v", h.nic.Addresses())
	}
	if !dm.waitLog(func(s string) bool { return strings.Contains(s, "DHCPRELEASE(br0) "+addr.String()+" ") }, 1) {
		t.Error("dnsmasq logged no DHCPRELEASE")
	}
	if !poll(30*time.Second, func() bool { return !strings.Contains(dm.leases(), addr.String()) }) {
		t.Errorf("lease file still holds %v after release:\n%s", addr, dm.leases())
	}
}
