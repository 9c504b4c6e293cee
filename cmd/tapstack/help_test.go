package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestDidYouMean: a mistyped flag or command gets the closest name
// (edit distance at most 2); something far from every name gets none.
func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the stderr line contains it
		not  string // and does not contain this
	}{
		{[]string{"up", "--tap", "tap0", "--addr", "10.0.0.2/24", "--gatway", "10.0.0.1"}, "unknown flag --gatway for up; did you mean --gateway? (see tapstack up --help)", ""},
		{[]string{"up", "--brigde", "br0"}, "did you mean --bridge?", ""},
		{[]string{"up", "--no-ofload"}, "did you mean --no-offload?", ""},
		{[]string{"up", "--dhcp-wiat", "1s"}, "unknown flag --dhcp-wiat for up", "did you mean"}, // hidden flags are not suggested
		{[]string{"up", "--frobnicate"}, "unknown flag --frobnicate for up", "did you mean"},
		{[]string{"arp", "--fluhs"}, "did you mean --flush?", ""},
		{[]string{"route", "--tapp", "tap0"}, "unknown flag --tapp for route; did you mean --tap?", ""},
		{[]string{"status", "--al"}, "did you mean --all?", ""},
		{[]string{"rout"}, `unknown command "rout"; did you mean route?`, ""},
		{[]string{"stauts"}, "did you mean status?", ""},
		{[]string{"resolv", "x"}, "did you mean resolve?", ""},
		{[]string{"down"}, `unknown command "down": want up, route, neigh, arp, status, resolve, version or help`, "did you mean"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr, nil); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", tc.args, code, exitUsage)
		}
		oneLine(t, stderr.String(), tc.want)
		if tc.not != "" && strings.Contains(stderr.String(), tc.not) {
			t.Errorf("%q: %q mentions %q", tc.args, stderr.String(), tc.not)
		}
	}
}

// TestCommandHelp: each command's --help (and `tapstack help CMD`) prints
// that command's own short help on stdout and exits 0; up's does not
// list the other commands, and the others do not list up's flags.
func TestCommandHelp(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, not string
	}{
		{[]string{"up", "--help"}, "Usage: tapstack up", "tapstack route"},
		{[]string{"up", "-h"}, "--gateway IP", "tapstack resolve"},
		{[]string{"route", "--help"}, "Usage: tapstack route", "--gateway"},
		{[]string{"arp", "--help"}, "M permanent", "--gateway"},
		{[]string{"status", "-h"}, "Usage: tapstack status", "--gateway"},
		{[]string{"resolve", "--help"}, "Usage: tapstack resolve", "--gateway"},
		{[]string{"resolve", "--tap", "tap0", "-h"}, "Usage: tapstack resolve", "--gateway"},
		{[]string{"help", "resolve"}, "Usage: tapstack resolve", "--gateway"},
		{[]string{"help"}, "tapstack up --help", "--arp-proxy"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr, nil); code != exitOK {
			t.Errorf("%q: exit %d, stderr %q", tc.args, code, stderr.String())
		}
		out := stdout.String()
		if stderr.Len() != 0 || !strings.Contains(out, tc.want) || strings.Contains(out, tc.not) {
			t.Errorf("%q: stdout %q (want %q, not %q), stderr %q", tc.args, out, tc.want, tc.not, stderr.String())
		}
		if n := strings.Count(out, "\n"); n > 45 {
			t.Errorf("%q: %d lines of help, want it short (at most 45)", tc.args, n)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"gateway", "gateway", 0}, {"gatway", "gateway", 1}, {"rout", "route", 1},
		{"fluhs", "flush", 2}, {"kitten", "sitting", 3}, {"", "abc", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
