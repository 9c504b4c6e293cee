package host

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/stack"
)

// startDHCP starts the DHCP client of nic with opts (Probe defaulting to
// ARP's); the lease's DNS servers reach the resolver through Resolver.
func (h *Host) startDHCP(nic *stack.NIC, opts dhcp.Options) {
	if opts.Probe == nil {
		opts.Probe = h.arp.Probe
	}
	h.dhcpNIC = nic
	h.logDHCP(nic.Name(), &opts)
	h.dhcp = dhcp.New(h.s, nic, opts)
	h.dhcp.Start()
}

// DHCP returns the DHCP client of the interface with Interface.DHCP set,
// or nil.
func (h *Host) DHCP() *dhcp.Client { return h.dhcp }

// ErrNoDHCP is WaitDHCP's error on a host without a DHCP interface.
var ErrNoDHCP = errors.New("host: no interface uses DHCP")

// WaitDHCP waits until the DHCP interface has its first lease (its address
// and default route are then configured) and returns it; it fails when ctx
// ends first.
func (h *Host) WaitDHCP(ctx context.Context) (dhcp.Lease, error) {
	if h.dhcp == nil {
		return dhcp.Lease{}, ErrNoDHCP
	}
	return h.dhcp.WaitBound(ctx)
}

func dnsServers(as []netip.Addr) []netip.AddrPort {
	var s []netip.AddrPort
	for _, a := range as {
		s = append(s, netip.AddrPortFrom(a, 53))
	}
	return s
}

// writeDHCP writes the DHCP and DNS sections of the status page.
func (h *Host) writeDHCP(b *strings.Builder) {
	if h.dhcp != nil {
		fmt.Fprintf(b, "\n# dhcp (%s: %v)\n", h.dhcpNIC.Name(), h.dhcp.State())
		if l, ok := h.dhcp.Lease(); ok {
			now := h.s.Clock().Now()
			at := func(t time.Time) string {
				d := t.Sub(now).Round(time.Second)
				if d >= 0 {
					return fmt.Sprintf("%s (in %v)", t.Format(time.RFC3339), d)
				}
				return fmt.Sprintf("%s (%v ago)", t.Format(time.RFC3339), -d)
			}
			fmt.Fprintf(b, "address   %v\n", l.Addr)
			fmt.Fprintf(b, "server    %v\n", l.Server)
			if l.Router.IsValid() {
				fmt.Fprintf(b, "router    %v\n", l.Router)
			}
			if len(l.DNS) > 0 {
				fmt.Fprintf(b, "dns       %s\n", joinAddrs(l.DNS))
			}
			fmt.Fprintf(b, "lease     %v\n", l.LeaseTime)
			fmt.Fprintf(b, "obtained  %s\n", at(l.Obtained))
			fmt.Fprintf(b, "renew     %s\n", at(l.RenewAt()))
			fmt.Fprintf(b, "rebind    %s\n", at(l.RebindAt()))
			fmt.Fprintf(b, "expires   %s\n", at(l.ExpiresAt()))
		} else {
			b.WriteString("no lease\n")
		}
	}
	var servers []netip.Addr
	for _, s := range h.Resolver().Servers {
		servers = append(servers, s.Addr())
	}
	if len(servers) > 0 || h.dhcp != nil {
		src := "configured"
		if len(h.dns) == 0 {
			src = "from DHCP"
		}
		fmt.Fprintf(b, "\n# dns (%s)\n", src)
		if len(servers) == 0 {
			b.WriteString("no servers\n")
		} else {
			fmt.Fprintf(b, "nameserver %s\n", joinAddrs(servers))
		}
	}
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}
