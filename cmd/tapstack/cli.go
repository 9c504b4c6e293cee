package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/tapstack/tapstack/link"
	"github.com/tapstack/tapstack/stack"
	"github.com/tapstack/tapstack/tap"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // the command was well formed but could not run
	exitUsage   = 2 // the command line is wrong
)

const helpText = `tapstack: a userspace TCP/IP stack in Go, running a virtual host on a Linux TAP device.

Usage:
  tapstack up --tap NAME --addr CIDR [--bridge BR] [--gateway IP] [--mac MAC] [--mtu N]
              [--pcap FILE] [--faults SPEC]
  tapstack version
  tapstack help

up opens (or creates) the TAP device NAME, attaches it to bridge BR if given,
and runs a virtual host with address CIDR on it until SIGINT or SIGTERM.
It serves:
  http:80     /            status page (addresses, ARP cache, routes, TCP connections, counters)
              /bytes?n=N   N bytes of a fixed pattern (byte i is 'a'+i%26)
  echo:7      echoes what it receives, TCP and UDP (RFC 862)
  discard:9   reads and drops (RFC 863)
  chargen:19  rotating 72-character lines (RFC 864)

Flags of up:
  --tap NAME      TAP device name (required, at most 15 characters)
  --addr CIDR     IPv4 address with prefix length, e.g. 10.0.0.2/24 (required)
  --bridge BR     existing Linux bridge to attach the TAP to
  --gateway IP    default gateway (must be inside the --addr subnet)
  --mac MAC       hardware address (default: random, locally administered)
  --mtu N         MTU of the TAP (68..65521, default 1500)
  --pcap FILE     write every frame on the TAP to FILE in pcap format (tcpdump -r FILE)
  --faults SPEC   inject faults between the stack and the TAP, e.g.
                  loss=2%,duplicate=1%,reorder=1%,corrupt=0.1%,seed=7 (rx./tx. prefix: one direction)

Exit status: 0 after a clean shutdown, 1 when the host cannot run (permissions,
missing bridge, busy TAP), 2 for a malformed command line.
`

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// run is the whole command, testable in-process: it parses args (without the
// program name), writes to stdout and stderr, stops on a value from signals
// and returns the exit status.
func run(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	if len(args) == 0 {
		return fail(stderr, usagef("missing command: want up, version or help"))
	}
	switch args[0] {
	case "up":
		cfg, err := parseUp(args[1:])
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, helpText)
			return exitOK
		}
		if err != nil {
			return fail(stderr, err)
		}
		return fail(stderr, up(cfg, stdout, signals))
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "tapstack %s (%s %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, helpText)
		return exitOK
	default:
		return fail(stderr, usagef("unknown command %q: want up, version or help", args[0]))
	}
}

// fail prints err as one line prefixed "tapstack: " and returns its exit
// status; a nil err is success.
func fail(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	code := exitRuntime
	var ue *usageError
	if errors.As(err, &ue) {
		code = exitUsage
		msg += " (see tapstack help)"
	}
	fmt.Fprintln(stderr, "tapstack: "+msg)
	return code
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// upConfig is the validated command line of `tapstack up`.
type upConfig struct {
	Tap       string
	Bridge    string
	Addr      netip.Prefix
	Gateway   netip.Addr // zero: none
	MAC       stack.MAC  // zero: random
	MTU       int
	Pcap      string            // "": no capture
	Faults    *link.FaultConfig // nil: none
	FaultSpec string            // the --faults text, for the up line
}

// parseUp parses and validates the flags of `up`. Every error is a
// *usageError (or flag.ErrHelp).
func parseUp(args []string) (upConfig, error) {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var (
		tapName = fs.String("tap", "", "")
		bridge  = fs.String("bridge", "", "")
		addr    = fs.String("addr", "", "")
		gateway = fs.String("gateway", "", "")
		mac     = fs.String("mac", "", "")
		mtu     = fs.String("mtu", "1500", "")
		pcap    = fs.String("pcap", "", "")
		faults  = fs.String("faults", "", "")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return upConfig{}, err
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unknown flag " + name + " for up"
		} else if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
			msg = "flag " + name + " needs a value"
		}
		return upConfig{}, usagef("%s", msg)
	}
	if fs.NArg() > 0 {
		return upConfig{}, usagef("unexpected argument %q to up (flags only)", fs.Arg(0))
	}
	var cfg upConfig
	switch {
	case *tapName == "":
		return cfg, usagef("up needs --tap NAME (the TAP device, e.g. tap0)")
	case len(*tapName) > 15:
		return cfg, usagef("--tap %q is too long: interface names have at most 15 characters", *tapName)
	case strings.ContainsAny(*tapName, "/: \t\n") || *tapName == "." || *tapName == "..":
		return cfg, usagef("--tap %q is not a valid interface name", *tapName)
	}
	cfg.Tap = *tapName
	if *bridge != "" {
		if len(*bridge) > 15 || strings.ContainsAny(*bridge, "/: \t\n") {
			return cfg, usagef("--bridge %q is not a valid interface name", *bridge)
		}
		if *bridge == *tapName {
			return cfg, usagef("--bridge and --tap are both %q", *bridge)
		}
		cfg.Bridge = *bridge
	}
	if *addr == "" {
		return cfg, usagef("up needs --addr CIDR (the host's address, e.g. 10.0.0.2/24)")
	}
	p, err := netip.ParsePrefix(*addr)
	if err != nil || !p.Addr().Is4() {
		return cfg, usagef("malformed --addr %q: want an IPv4 address with prefix length like 10.0.0.2/24", *addr)
	}
	if a := p.Addr(); a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return cfg, usagef("--addr %v cannot be a host address", p)
	}
	if p.Bits() < 31 && (p.Addr() == p.Masked().Addr() || p.Addr() == lastAddr(p)) {
		return cfg, usagef("--addr %v is the network or broadcast address of its subnet", p)
	}
	cfg.Addr = p
	if *gateway != "" {
		g, err := netip.ParseAddr(*gateway)
		if err != nil || !g.Is4() {
			return cfg, usagef("malformed --gateway %q: want an IPv4 address like 10.0.0.1", *gateway)
		}
		if !p.Contains(g) {
			return cfg, usagef("--gateway %v is not inside --addr subnet %v", g, p.Masked())
		}
		if g == p.Addr() {
			return cfg, usagef("--gateway %v is the host's own address", g)
		}
		cfg.Gateway = g
	}
	if *mac != "" {
		m, err := stack.ParseMAC(*mac)
		if err != nil {
			return cfg, usagef("malformed --mac %q: want six hex bytes like 02:00:00:00:00:01", *mac)
		}
		if m.IsZero() || m.IsMulticast() {
			return cfg, usagef("--mac %v is not a unicast address: the first byte must be even, e.g. 02:00:00:00:00:01", m)
		}
		cfg.MAC = m
	}
	n, err := strconv.Atoi(*mtu)
	if err != nil {
		return cfg, usagef("malformed --mtu %q: want a number like 1500", *mtu)
	}
	if n < tap.MinMTU || n > tap.MaxMTU {
		return cfg, usagef("--mtu %d is out of range: want %d..%d", n, tap.MinMTU, tap.MaxMTU)
	}
	cfg.MTU = n
	cfg.Pcap = *pcap
	if *faults != "" {
		fc, err := link.ParseFaults(*faults)
		if err != nil {
			return cfg, usagef("malformed --faults %q: %v", *faults, err)
		}
		cfg.Faults, cfg.FaultSpec = &fc, *faults
	}
	return cfg, nil
}

// lastAddr is the directed broadcast address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= uint32(1)<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
