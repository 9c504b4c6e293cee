package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/tapstack/tapstack/internal/netnstest"
	"github.com/tapstack/tapstack/tap"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the command once per test run into a directory every user
// can read, so it can also be run as nobody.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tapstack-bin-")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "tapstack")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + ": " + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// TestRuntimeErrors runs the built binary against real operator mistakes,
// each in a fresh network namespace, and checks the one-line message and
// the exit status 1.
func TestRuntimeErrors(t *testing.T) {
	netnstest.Skip(t)
	tests := []struct {
		name string
		// setup prepares the namespace and returns the command to run.
		setup func(t *testing.T, bin string) *exec.Cmd
		want  string
	}{
		{
			name: "no such bridge",
			setup: func(t *testing.T, bin string) *exec.Cmd {
				ns := netnstest.New(t)
				return ns.Cmd(bin, "up", "--tap", "tap0", "--bridge", "nosuchbr", "--addr", "10.0.0.2/24")
			},
			want: `bridge "nosuchbr" does not exist`,
		},
		{
			name: "bridge is not a bridge",
			setup: func(t *testing.T, bin string) *exec.Cmd {
				ns := netnstest.New(t)
				return ns.Cmd(bin, "up", "--tap", "tap0", "--bridge", "lo", "--addr", "10.0.0.2/24")
			},
			want: `"lo" exists but is not a bridge`,
		},
		{
			name: "busy tap",
			setup: func(t *testing.T, bin string) *exec.Cmd {
				ns := netnstest.New(t)
				var dev *tap.Device
				if err := ns.Run(func() (err error) {
					dev, err = tap.Open(tap.Config{Name: "tap0", NoOffload: true})
					return err
				}); err != nil {
					t.Fatalf("holding tap0: %v", err)
				}
				t.Cleanup(func() { dev.Close() })
				return ns.Cmd(bin, "up", "--tap", "tap0", "--addr", "10.0.0.2/24")
			},
			want: `TAP "tap0" is busy`,
		},
		{
			name: "not root",
			setup: func(t *testing.T, bin string) *exec.Cmd {
				// A fresh anonymous network namespace (unshared before the
				// uid drops), so nothing could touch the root namespace.
				cmd := exec.Command(bin, "up", "--tap", "tap0", "--addr", "10.0.0.2/24")
				cmd.SysProcAttr = &syscall.SysProcAttr{
					Unshareflags: syscall.CLONE_NEWNET,
					Credential:   &syscall.Credential{Uid: 65534, Gid: 65534},
				}
				return cmd
			},
			want: "permission denied (run as root",
		},
	}
	bin := binary(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := tt.setup(t, bin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("want exit status 1, got %v (stderr %q)", err, stderr.String())
			}
			if code := ee.ExitCode(); code != exitRuntime {
				t.Errorf("exit status %d, want %d", code, exitRuntime)
			}
			oneLine(t, stderr.String(), tt.want)
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty: %q", stdout.String())
			}
		})
	}
}

// TestBinaryUsageErrors checks the real main: exit status 2, one line, no
// flag-package usage dump.
func TestBinaryUsageErrors(t *testing.T) {
	bin := binary(t)
	for _, args := range [][]string{
		{"up", "--tap", "tap0", "--addr", "10.0.0.2/24", "--mtu", "big"},
		{"up", "--nope"},
		{"frobnicate"},
		{},
	} {
		cmd := exec.Command(bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
			t.Errorf("%q: got %v, want exit status %d", args, err, exitUsage)
		}
		oneLine(t, stderr.String(), "see tapstack ")
		if stdout.Len() != 0 {
			t.Errorf("%q: stdout not empty: %q", args, stdout.String())
		}
	}
}
