package dhcp

import (
	"fmt"
	"net/netip"
	"time"
)

// Lease is an address the client holds from a server, with the
// configuration that came with it.
type Lease struct {
	// Addr is the leased address with the subnet's prefix length.
	Addr netip.Prefix
	// Router is the default gateway (the first of option 3), or zero.
	Router netip.Addr
	// DNS are the name servers (option 6).
	DNS []netip.Addr
	// Server is the DHCP server that granted the lease (option 54).
	Server netip.Addr
	// LeaseTime is the lease duration; T1 and T2 are when, counted from
	// Obtained, the client renews (unicast to Server) and rebinds
	// (broadcast to any server).
	LeaseTime, T1, T2 time.Duration
	// Obtained is when the client sent the request the lease answers
	// (RFC 2131 4.4.1: times count from the request, not the ACK).
	Obtained time.Time
}

// RenewAt returns when the client starts renewing.
func (l Lease) RenewAt() time.Time { return l.Obtained.Add(l.T1) }

// RebindAt returns when the client starts rebinding.
func (l Lease) RebindAt() time.Time { return l.Obtained.Add(l.T2) }

// ExpiresAt returns when the lease ends.
func (l Lease) ExpiresAt() time.Time { return l.Obtained.Add(l.LeaseTime) }

// sameConfig reports whether l and o configure the NIC the same way
// (address and default route): a renewal that changes neither needs no
// reconfiguration.
func (l Lease) sameConfig(o Lease) bool {
	return l.Addr == o.Addr && l.Router == o.Router
}

// String formats the lease for logs and status pages:
// "10.0.0.50/24 via 10.0.0.1 dns [10.0.0.1] from 10.0.0.1 for 2m0s".
func (l Lease) String() string {
	s := l.Addr.String()
	if l.Router.IsValid() {
		s += " via " + l.Router.String()
	}
	if len(l.DNS) > 0 {
		s += fmt.Sprintf(" dns %v", l.DNS)
	}
	return s + fmt.Sprintf(" from %v for %v", l.Server, l.LeaseTime)
}

// leaseFrom builds the lease an ACK grants. requested is when the request
// was sent; renewAfter, when positive, overrides T1.
func leaseFrom(f *Fields, requested time.Time, renewAfter time.Duration) Lease {
	bits := f.SubnetMask
	if bits <= 0 {
		bits = classfulBits(f.YIAddr)
	}
	l := Lease{
		Addr:      netip.PrefixFrom(f.YIAddr, bits),
		DNS:       f.DNS,
		Server:    f.ServerID,
		LeaseTime: f.LeaseTime,
		T1:        f.T1,
		T2:        f.T2,
		Obtained:  requested,
	}
	if len(f.Router) > 0 {
		l.Router = f.Router[0]
	}
	if l.LeaseTime <= 0 {
		l.LeaseTime = time.Hour // RFC 2131 requires option 51 in an ACK; be lenient
	}
	if renewAfter > 0 {
		l.T1 = renewAfter
	}
	// RFC 2131 4.4.5 defaults, and sanity: 0 < T1 < T2 < lease.
	if l.T1 <= 0 || l.T1 >= l.LeaseTime {
		l.T1 = l.LeaseTime / 2
	}
	if l.T2 <= l.T1 || l.T2 >= l.LeaseTime {
		l.T2 = l.LeaseTime * 7 / 8
		if l.T2 <= l.T1 {
			l.T2 = l.T1 + (l.LeaseTime-l.T1)*3/4
		}
	}
	return l
}

// classfulBits is the default prefix length when a server sends no subnet
// mask (RFC 2131 says the client may assume the class's mask).
func classfulBits(a netip.Addr) int {
	b := a.As4()[0]
	switch {
	case b < 128:
		return 8
	case b < 192:
		return 16
	}
	return 24
}
