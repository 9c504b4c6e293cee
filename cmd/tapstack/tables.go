package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// parseQuery parses the flags of route, arp and status (with extra flags
// added by the caller) and returns the host's control socket. check, when
// not nil, validates the parsed flags before any host is looked for.
func parseQuery(cmd string, args []string, fs *flag.FlagSet, check ...func() error) (string, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	tap := fs.String("tap", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", usagef("%s", flagMessage(cmd, fs, err))
	}
	if fs.NArg() > 0 {
		return "", usagef("unexpected argument %q to %s", fs.Arg(0), cmd)
	}
	for _, c := range check {
		if err := c(); err != nil {
			return "", err
		}
	}
	if *tap != "" {
		if err := checkIfName("--tap", *tap); err != nil {
			return "", err
		}
	}
	return findHost(*tap)
}

// runRoute is `tapstack route [--tap NAME] [-4|-6]`: the route tables of
// a running host, like `ip route` then `ip -6 route`.
func runRoute(args []string, stdout io.Writer) error {
	return runFamilyTable("route", args, stdout)
}

// runNeigh is `tapstack neigh [--tap NAME] [-4|-6]`: the ARP and NDP
// tables of a running host, like `ip neigh`.
func runNeigh(args []string, stdout io.Writer) error {
	return runFamilyTable("neigh", args, stdout)
}

// runFamilyTable asks a running host for the table /cmd, of one family
// with -4 or -6 (as ip takes them), else of both.
func runFamilyTable(cmd string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	v4 := fs.Bool("4", false, "")
	v6 := fs.Bool("6", false, "")
	addr, err := parseQuery(cmd, args, fs, func() error {
		if *v4 && *v6 {
			return usagef("%s: -4 and -6 exclude each other (give neither for both families)", cmd)
		}
		return nil
	})
	if err != nil {
		return err
	}
	path := "/" + cmd
	switch {
	case *v4:
		path += "?family=4"
	case *v6:
		path += "?family=6"
	}
	out, err := controlDo(addr, "GET", path)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}

// runStatus is `tapstack status [--tap NAME] [--all]`: the status page.
func runStatus(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	all := fs.Bool("all", false, "")
	addr, err := parseQuery("status", args, fs)
	if err != nil {
		return err
	}
	path := "/status"
	if *all {
		path += "?all"
	}
	out, err := controlDo(addr, "GET", path)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}

// runARP is `tapstack arp [--tap NAME] [-d IP | --flush]`: the ARP table
// of a running host in the layout of `arp -n`, or a change to it.
func runARP(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("arp", flag.ContinueOnError)
	del := fs.String("d", "", "")
	flush := fs.Bool("flush", false, "")
	addr, err := parseQuery("arp", args, fs)
	if err != nil {
		return err
	}
	switch {
	case *del != "" && *flush:
		return usagef("arp: -d and --flush exclude each other")
	case *del != "":
		ip, err := netip.ParseAddr(*del)
		if err != nil || !ip.Is4() {
			return usagef("malformed arp -d %q: want an IPv4 address like 10.0.0.1", *del)
		}
		_, err = controlDo(addr, "POST", "/arp/delete?ip="+url.QueryEscape(ip.String()))
		return err
	case *flush:
		out, err := controlDo(addr, "POST", "/arp/flush")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "flushed %s entries\n", strings.TrimSpace(out))
		return nil
	}
	out, err := controlDo(addr, "GET", "/arp")
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}

// runResolve is `tapstack resolve [--tap NAME] HOSTNAME`: the IPv4
// addresses of HOSTNAME, looked up by a running host's resolver (its --dns
// servers or its DHCP lease's), over the stack.
func runResolve(args []string, stdout io.Writer) error {
	if slices.ContainsFunc(args, isHelp) {
		return flag.ErrHelp
	}
	if len(args) == 0 || strings.HasPrefix(args[len(args)-1], "-") {
		return usagef("resolve needs a host name: tapstack resolve [--tap NAME] HOSTNAME")
	}
	name := args[len(args)-1]
	addr, err := parseQuery("resolve", args[:len(args)-1], flag.NewFlagSet("resolve", flag.ContinueOnError))
	if err != nil {
		return err
	}
	out, err := controlDo(addr, "GET", "/resolve?name="+url.QueryEscape(name))
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}
