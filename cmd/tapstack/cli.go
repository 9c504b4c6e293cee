package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1 // the command was well formed but could not run
	exitUsage   = 2 // the command line is wrong
)

// usageError is a mistake in the command line: exit status 2. cmd, when
// set, is the command whose --help the error line points to.
type usageError struct{ msg, cmd string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// run is the whole command, testable in-process: it parses args (without the
// program name), writes to stdout and stderr, stops on a value from signals
// and returns the exit status.
func run(args []string, stdout, stderr io.Writer, signals <-chan os.Signal) int {
	if len(args) == 0 {
		return fail(stderr, usagef("missing command: want up, route, neigh, arp, status, resolve, version or help"))
	}
	cmd := args[0]
	var err error
	switch cmd {
	case "up":
		var cfg upConfig
		if cfg, err = parseUp(args[1:]); err == nil {
			return fail(stderr, up(cfg, stdout, stderr, signals))
		}
	case "gateway":
		var cfg gatewayConfig
		if cfg, err = parseGatewayCmd(args[1:]); err == nil {
			return fail(stderr, runGateway(cfg, stdout, stderr, signals))
		}
	case "bond":
		err = runBond(args[1:], stdout)
	case "trace": // tracecmd.go
		err = runTrace(args[1:], stdout, signals)
	case "route", "neigh", "arp", "status", "resolve":
		f := map[string]func([]string, io.Writer) error{"route": runRoute, "neigh": runNeigh, "arp": runARP, "status": runStatus, "resolve": runResolve}[cmd]
		err = f(args[1:], stdout)
	case "ss", "metrics": // metrics.go
		err = map[string]func([]string, io.Writer) error{"ss": runSS, "metrics": runMetrics}[cmd](args[1:], stdout)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "tapstack %s (%s %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			h, ok := commandHelp[args[1]]
			if !ok {
				return fail(stderr, unknownCommand(args[1]))
			}
			fmt.Fprint(stdout, h)
			return exitOK
		}
		fmt.Fprint(stdout, helpText)
		return exitOK
	default:
		return fail(stderr, unknownCommand(cmd))
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, commandHelp[cmd])
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd == "" {
		ue.cmd = cmd
	}
	return fail(stderr, err)
}

// unknownCommand is the usage error of a command that does not exist,
// with the closest one when it looks mistyped.
func unknownCommand(cmd string) error {
	if s := suggest(cmd, append([]string(nil), commands...)); s != "" {
		return usagef("unknown command %q; did you mean %s?", cmd, s)
	}
	return usagef("unknown command %q: want up, route, neigh, arp, status, resolve, version or help", cmd)
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
		if ue.cmd != "" {
			msg += " (see tapstack " + ue.cmd + " --help)"
		} else {
			msg += " (see tapstack help)"
		}
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
