package main

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

// FuzzParseUp feeds arbitrary command lines (arguments separated by NUL) to
// the `up` flag parser: it must never panic, every rejection must be a
// usage error printed as exactly one line with exit status 2, and
// every accepted configuration names at least one TAP.
func FuzzParseUp(f *testing.F) {
	for _, s := range []string{
		"--tap\x00tap0\x00--addr\x0010.0.0.2/24",
		"--tap=t\x00--bridge=br0\x00--addr=10.0.0.2/24\x00--gateway=10.0.0.1\x00--mtu=9000",
		"--tap\x00t\x00--vlan\x0010:10.1.0.2/24\x00--vlan\x0020:10.2.0.2/24",
		"--nic\x00tap=a,bridge=b,addr=10.0.0.1/24\x00--nic\x00tap=c,addr=10.1.0.1/24\x00--forward",
		"--tap\x00t\x00--route\x000.0.0.0/0,via=10.0.0.1\x00--arp\x0010.0.0.9=02:00:00:00:00:09",
		"--tap\x00t\x00--dhcp\x00--hostname\x00h\x00--dns\x0010.0.0.53",
		"--tap\x00t\x00--addr\x0010.0.0.2/24\x00--faults\x00loss=2%,seed=7\x00--pcap\x00/tmp/x.pcap",
		"--arp-proxy\x0010.0.0.0/24\x00--mac\x00zz",
		"--tap\x00t\x00--addr\x0010.0.0.2/24\x00--addr\x00fd00::2/64\x00--gateway\x00fe80::1\x00--gateway\x0010.0.0.1\x00--no-slaac",
		"--nic\x00a,addr=fd00:1::1/64,addr=10.0.1.1/24\x00--nic\x00b,addr=fd00:2::1/64\x00--gateway\x00fe80::1%b\x00--route\x00default,via=fe80::2,dev=a\x00--forward",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2048 {
			return
		}
		cfg, err := parseUp(strings.Split(s, "\x00"))
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("parseUp(%q): %T %v, want a usage error", s, err, err)
			}
			var out bytes.Buffer
			if code := fail(&out, err); code != exitUsage && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("parseUp(%q): exit %d, want %d", s, code, exitUsage)
			}
			if n := strings.Count(out.String(), "\n"); n != 1 || !strings.HasPrefix(out.String(), "tapstack: ") {
				t.Fatalf("parseUp(%q): printed %q, want one tapstack: line", s, out.String())
			}
			return
		}
		if len(cfg.Taps) == 0 {
			t.Fatalf("parseUp(%q) accepted a configuration with no TAP", s)
		}
	})
}
