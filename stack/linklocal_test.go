package stack

import (
	"errors"
	"syscall"
	"testing"
)

// TestSameLinkLocalOnTwoNICs (RFC 4007 6, as Linux): VLAN interfaces of
// one trunk share a MAC and so their EUI-64 link-local address, which is
// scoped to each link; a global IPv6 address stays unique, and a NIC
// still refuses its own address twice.
func TestSameLinkLocalOnTwoNICs(t *testing.T) {
	s := New(Options{})
	n, _ := s.AddNIC("tap0.10", nullLink{1500})
	m, _ := s.AddNIC("tap0.20", nullLink{1500})
	ll := mustPrefix("fe80::ff:fe00:a/64")
	if err := n.AddAddress(ll); err != nil {
		t.Fatal(err)
	}
	if err := m.AddAddress(ll); err != nil {
		t.Fatalf("same link-local address on a second link: %v", err)
	}
	if !n.HasAddress(ll.Addr()) || !m.HasAddress(ll.Addr()) {
		t.Fatal("link-local address missing on a NIC")
	}
	if err := n.AddAddress(ll); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("same link-local twice on one NIC: %v", err)
	}
	if err := n.AddAddress(mustPrefix("fd00::2/64")); err != nil {
		t.Fatal(err)
	}
	if err := m.AddAddress(mustPrefix("fd00::2/64")); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("same global IPv6 address on two NICs: %v", err)
	}
}
