package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tapstack/tapstack/arp"
	"github.com/tapstack/tapstack/dhcp"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/ndp"
	"github.com/tapstack/tapstack/stack"
)

var (
	pfx = netip.MustParsePrefix
	ip  = netip.MustParseAddr
)

// TestParseUpDualStack: --addr repeats and takes IPv6, --gateway takes
// one router per family (a link-local one gets the TAP's interface as
// zone), --nic repeats addr=, --route takes IPv6 prefixes, --no-slaac,
// --dns IPv6, and --dhcp keeps an IPv6 --addr.
func TestParseUpDualStack(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want upConfig
	}{
		{"tap dual-stack", []string{"--tap", "tap0", "--addr", "10.0.0.2/24", "--addr", "fd00::2/64", "--gateway", "10.0.0.1", "--gateway", "fe80::1", "--no-slaac", "--dns", "fd00::53"},
			upConfig{
				Taps:     []tapConfig{{Name: "tap0", MTU: 1500}},
				NICs:     []nicConfig{{Tap: "tap0", Addr: pfx("10.0.0.2/24"), Addrs: []netip.Prefix{pfx("fd00::2/64")}}},
				Gateway:  ip("10.0.0.1"),
				Gateway6: ip("fe80::1%tap0"),
				NoSLAAC:  true,
				DNS:      []netip.Addr{ip("fd00::53")},
			}},
		{"IPv6 only, global gateway", []string{"--tap", "tap0", "--addr", "fd00::2/64", "--gateway", "fd00::1"},
			upConfig{
				Taps:     []tapConfig{{Name: "tap0", MTU: 1500}},
				NICs:     []nicConfig{{Tap: "tap0", Addr: pfx("fd00::2/64")}},
				Gateway6: ip("fd00::1"),
			}},
		{"dhcp keeps an IPv6 addr", []string{"--tap", "tap0", "--dhcp", "--addr", "fd00::2/64", "--gateway", "fe80::1"},
			upConfig{
				Taps:     []tapConfig{{Name: "tap0", MTU: 1500}},
				NICs:     []nicConfig{{Tap: "tap0", DHCP: true, Addr: pfx("fd00::2/64")}},
				Gateway6: ip("fe80::1%tap0"),
			}},
		{"nic addr= repeats, IPv6 routes", []string{
			"--nic", "tap1,bridge=br1,addr=10.0.1.1/24,addr=fd00:1::1/64",
			"--nic", "tap2,bridge=br2,addr=fd00:2::1/64",
			"--gateway", "fe80::9%tap2",
			"--route", "fd00:9::/48,via=fd00:1::9", "--route", "fd00:8::/48,via=fe80::8,dev=tap1", "--forward"},
			upConfig{
				Taps:     []tapConfig{{Name: "tap1", Bridge: "br1", MTU: 1500}, {Name: "tap2", Bridge: "br2", MTU: 1500}},
				NICs:     []nicConfig{{Tap: "tap1", Addr: pfx("10.0.1.1/24"), Addrs: []netip.Prefix{pfx("fd00:1::1/64")}}, {Tap: "tap2", Addr: pfx("fd00:2::1/64")}},
				Gateway6: ip("fe80::9%tap2"),
				Routes: []host.Route{
					{Dst: pfx("fd00:9::/48"), Gateway: ip("fd00:1::9")},
					{Dst: pfx("fd00:8::/48"), Gateway: ip("fe80::8"), Interface: "tap1"},
				},
				Forward: true,
			}},
		{"default route family from via", []string{"--tap", "tap0", "--addr", "fd00::2/64", "--route", "default,via=fd00::1"},
			upConfig{
				Taps:   []tapConfig{{Name: "tap0", MTU: 1500}},
				NICs:   []nicConfig{{Tap: "tap0", Addr: pfx("fd00::2/64")}},
				Routes: []host.Route{{Dst: pfx("::/0"), Gateway: ip("fd00::1")}},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseUp(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestParseUpDualStackErrors: each IPv6 mistake is one usage line.
func TestParseUpDualStackErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"two IPv4 gateways", []string{"--tap", "t", "--addr", "10.0.0.2/24", "--gateway", "10.0.0.1", "--gateway", "10.0.0.3"}, "--gateway is given twice for IPv4 (10.0.0.1 and 10.0.0.3): one default gateway per family"},
		{"two IPv6 gateways", []string{"--tap", "t", "--addr", "fd00::2/64", "--gateway", "fe80::1", "--gateway", "fd00::1"}, "--gateway is given twice for IPv6"},
		{"IPv6 gateway off subnet", []string{"--tap", "t", "--addr", "fd00::2/64", "--gateway", "fd01::1"}, "--gateway fd01::1 is not inside --addr subnet fd00::/64"},
		{"IPv6 gateway without IPv6 addr", []string{"--tap", "t", "--addr", "10.0.0.2/24", "--gateway", "fd00::1"}, "the interface has no IPv6 --addr to reach it from"},
		{"link-local gateway ambiguous", []string{"--nic", "t1,addr=10.0.1.1/24", "--nic", "t2,addr=10.0.2.1/24", "--gateway", "fe80::1"}, "--gateway fe80::1 is link-local: name its interface, e.g. fe80::1%t1"},
		{"link-local gateway unknown zone", []string{"--tap", "t", "--addr", "10.0.0.2/24", "--gateway", "fe80::1%eth9"}, `no interface "eth9"`},
		{"zone on global gateway", []string{"--tap", "t", "--addr", "fd00::2/64", "--gateway", "fd00::1%t"}, "only a link-local address takes an interface"},
		{"dhcp and IPv4 addr", []string{"--tap", "t", "--dhcp", "--addr", "10.0.0.2/24"}, "--dhcp and --addr 10.0.0.2/24 exclude each other"},
		{"same address twice", []string{"--tap", "t", "--addr", "fd00::2/64", "--addr", "fd00::2/64"}, "the address is given twice"},
		{"anycast address", []string{"--tap", "t", "--addr", "fd00::/64"}, "subnet-router anycast address"},
		{"multicast address", []string{"--tap", "t", "--addr", "ff02::1/64"}, "cannot be a host address"},
		{"address on two nics", []string{"--nic", "t1,addr=fd00::1/64", "--nic", "t2,addr=fd00::1/64"}, "address fd00::1 is on both t1 and t2"},
		{"link-local via without dev", []string{"--tap", "t", "--addr", "fd00::2/64", "--route", "fd00:9::/48,via=fe80::1"}, "a link-local via needs its interface: add dev=NAME"},
		{"via of the other family", []string{"--tap", "t", "--addr", "fd00::2/64", "--route", "fd00:9::/48,via=10.0.0.1"}, "is not an address of the prefix's family (IPv6)"},
		{"dns multicast", []string{"--tap", "t", "--addr", "fd00::2/64", "--dns", "ff02::fb"}, `malformed --dns "ff02::fb"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseUp(tc.args)
			if err == nil {
				t.Fatal("no error")
			}
			var b bytes.Buffer
			if code := fail(&b, err); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			oneLine(t, b.String(), tc.want)
		})
	}
}

// TestConflictLine: an IPv6 DAD conflict reads like the IPv4 one (RFC
// 5227 / RFC 4862 5.4.5), naming the bridge; a link-local one points at
// --mac.
func TestConflictLine(t *testing.T) {
	cfg, err := parseUp([]string{"--tap", "tap0", "--bridge", "br0", "--addr", "10.0.0.2/24", "--addr", "fd00::2/64"})
	if err != nil {
		t.Fatal(err)
	}
	mac := stack.MAC{2, 0, 0, 0, 0, 2}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("host: %w", &arp.ConflictError{Addr: ip("10.0.0.2"), MAC: mac, NIC: "tap0"}), "10.0.0.2 is already in use on br0 by 02:00:00:00:00:02; choose another address"},
		{fmt.Errorf("host: %w", &ndp.ConflictError{Addr: ip("fd00::2"), MAC: mac, NIC: "tap0"}), "fd00::2 is already in use on br0 by 02:00:00:00:00:02; choose another address"},
		{fmt.Errorf("host: %w", &ndp.ConflictError{Addr: ip("fe80::ff:fe00:2"), MAC: mac, NIC: "tap0"}), "fe80::ff:fe00:2 is already in use on br0 by 02:00:00:00:00:02; choose another --mac (the link-local address is made from it)"},
	} {
		if got := conflictLine(cfg, tc.err).Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// TestSLAACLines: what the watch prints as NDP learns and forgets, one
// line each: an address with the default router its advertisement
// brought; a router alone only once no address of its interface waits
// for DAD; what ends (RFC 4862 5.5.3, RFC 4861 6.3.4).
func TestSLAACLines(t *testing.T) {
	sw := &slaacWatch{addrs: map[nicAddr]netip.Prefix{}, routers: map[nicAddr]bool{}}
	t0 := time.Unix(0, 0)
	router := ndp.Router{Addr: ip("fe80::1"), NIC: "tap0", Expires: t0}
	pending := ndp.Prefix{Prefix: pfx("fd00:1::/64"), NIC: "tap0", OnLink: true, Addr: ip("fd00:1::ff:fe00:2")}
	assigned := pending
	assigned.Assigned = true
	neigh := []ndp.Entry{{Addr: ip("fe80::1"), NIC: "tap0", Router: true}}
	for i, step := range []struct {
		prefixes []ndp.Prefix
		routers  []ndp.Router
		want     []string
	}{
		{nil, nil, nil},
		{[]ndp.Prefix{pending}, []ndp.Router{router}, nil}, // DAD running: wait
		{[]ndp.Prefix{assigned}, []ndp.Router{router}, []string{"tap0: fd00:1::ff:fe00:2/64 from router fe80::1 (SLAAC), default via fe80::1"}},
		{[]ndp.Prefix{assigned}, []ndp.Router{router}, nil}, // nothing new
		{[]ndp.Prefix{assigned}, nil, []string{"tap0: default via fe80::1 removed (its router lifetime ended)"}},
		{[]ndp.Prefix{assigned}, []ndp.Router{router}, []string{"tap0: default via fe80::1 (router advertisement)"}},
		{nil, []ndp.Router{router}, []string{"tap0: fd00:1::ff:fe00:2/64 removed (its SLAAC lifetime ended)"}},
	} {
		got := sw.changes(step.prefixes, step.routers, neigh)
		if !reflect.DeepEqual(got, step.want) {
			t.Errorf("step %d: got %q, want %q", i, got, step.want)
		}
	}
}

// TestAddrList: the up line lists addresses like `ip -br addr`: IPv4,
// global IPv6, link-local; the DHCP address says its server.
func TestAddrList(t *testing.T) {
	n := nicConfig{Tap: "tap0", Addr: pfx("fd00::2/64"), Addrs: []netip.Prefix{pfx("10.0.0.2/24")}}
	if got, want := addrList(nil, n, dhcp.Lease{}), "10.0.0.2/24 fd00::2/64"; got != want {
		t.Errorf("static: %q, want %q", got, want)
	}
	n = nicConfig{Tap: "tap0", DHCP: true}
	l := dhcp.Lease{Addr: pfx("10.0.0.51/24"), Server: ip("10.0.0.1")}
	if got, want := addrList(nil, n, l), "10.0.0.51/24 (DHCP from 10.0.0.1)"; got != want {
		t.Errorf("dhcp: %q, want %q", got, want)
	}
}
