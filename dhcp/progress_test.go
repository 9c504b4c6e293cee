package dhcp_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/link"
)

// TestProgressReportsTheExchange: OnProgress hears each step of RFC 2131's
// four-message exchange (DISCOVER, OFFER, REQUEST, ACK) in order before
// the lease is bound, each with its address and server, and the RELEASE
// at Close.
func TestProgressReportsTheExchange(t *testing.T) {
	a, b := link.Pipe(1500)
	startServer(t, b, leaseAddr, time.Hour)
	s, nic, _ := bareStack(t, a, arp.Options{})
	steps := make(chan dhcp.Progress, 16)
	c := dhcp.New(s, nic, dhcp.Options{OnProgress: func(p dhcp.Progress) { steps <- p }})
	c.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitBound(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	close(steps)
	var got []string
	for p := range steps {
		got = append(got, p.String())
	}
	want := []string{
		"DISCOVER sent",
		"OFFER 10.0.0.50 from " + serverAddr.String(),
		"REQUEST 10.0.0.50 sent to " + serverAddr.String(),
		"ACK 10.0.0.50 from " + serverAddr.String(),
		"RELEASE 10.0.0.50 sent to " + serverAddr.String(),
	}
	if !slices.Equal(got, want) {
		t.Errorf("progress:\n got %q\nwant %q", got, want)
	}
	if leaseAddr != netip.MustParseAddr("10.0.0.50") {
		t.Fatalf("leaseAddr changed to %v: update want", leaseAddr)
	}
}
