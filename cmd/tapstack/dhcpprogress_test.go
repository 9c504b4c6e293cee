package main

import (
	"bytes"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/tapstack/tapstack/dhcp"
)

// TestDHCPProgressLines: while up waits for its lease, each DHCP step is
// one stderr line saying where and what; after the lease, nothing.
func TestDHCPProgressLines(t *testing.T) {
	cfg, err := parseUp([]string{"--tap", "tap0", "--bridge", "br0", "--dhcp"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	var quiet atomic.Bool
	f := dhcpProgress(cfg, cfg.dhcpNIC(), &out, &quiet)
	offered, server := netip.MustParseAddr("10.7.0.50"), netip.MustParseAddr("10.7.0.1")
	f(dhcp.Progress{Type: dhcp.Discover, Sent: true})
	f(dhcp.Progress{Type: dhcp.Offer, Addr: offered, Server: server})
	f(dhcp.Progress{Type: dhcp.Request, Sent: true, Addr: offered, Server: server})
	f(dhcp.Progress{Type: dhcp.Ack, Addr: offered, Server: server})
	quiet.Store(true)
	f(dhcp.Progress{Type: dhcp.Request, Sent: true, Addr: offered}) // a renewal
	want := `tapstack: dhcp: DISCOVER sent on tap0 (bridge br0)
tapstack: dhcp: OFFER 10.7.0.50 from 10.7.0.1
tapstack: dhcp: REQUEST 10.7.0.50 sent to 10.7.0.1
tapstack: dhcp: ACK 10.7.0.50 from 10.7.0.1; checking that no one else uses it (ARP probe)
`
	if out.String() != want {
		t.Errorf("progress lines:\n%s\nwant:\n%s", out.String(), want)
	}
}
