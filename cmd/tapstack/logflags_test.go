package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	dhcpd "github.com/tapstack/tapstack/dhcp/server"
	"github.com/tapstack/tapstack/host"
	"github.com/tapstack/tapstack/internal/stacktest"
	"github.com/tapstack/tapstack/link"
)

// --log-format and --log-level of up and gateway: the defaults, every
// value, and one clear line (exit status 2) for a bad one.
func TestLogFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		want    logConfig
		wantErr string
	}{
		{nil, logConfig{Level: slog.LevelInfo}, ""},
		{[]string{"--log-format", "json"}, logConfig{JSON: true, Level: slog.LevelInfo}, ""},
		{[]string{"--log-format=text", "--log-level=debug"}, logConfig{Level: slog.LevelDebug}, ""},
		{[]string{"--log-level", "WARN"}, logConfig{Level: slog.LevelWarn}, ""},
		{[]string{"--log-level", "error", "--log-format", "json"}, logConfig{JSON: true, Level: slog.LevelError}, ""},
		{[]string{"--log-format", "yaml"}, logConfig{}, `malformed --log-format "yaml": want text or json`},
		{[]string{"--log-format", ""}, logConfig{}, `malformed --log-format "": want text or json`},
		{[]string{"--log-level", "verbose"}, logConfig{}, `malformed --log-level "verbose": want debug, info, warn or error`},
		{[]string{"--log-level", "-4"}, logConfig{}, `malformed --log-level "-4": want debug, info, warn or error`},
	} {
		for _, cmd := range []string{"up", "gateway"} {
			args := append([]string{"--tap", "tap0"}, tt.args...)
			var got logConfig
			var err error
			if cmd == "up" {
				var cfg upConfig
				cfg, err = parseUp(append(args, "--addr", "10.0.0.2/24"))
				got = cfg.Log
			} else {
				var cfg gatewayConfig
				cfg, err = parseGatewayCmd(args)
				got = cfg.Log
			}
			switch {
			case tt.wantErr == "" && (err != nil || got != tt.want):
				t.Errorf("%s %q: %+v, %v; want %+v", cmd, tt.args, got, err, tt.want)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("%s %q: error %v, want %q", cmd, tt.args, err, tt.wantErr)
			}
			if tt.wantErr != "" {
				var stdout, stderr bytes.Buffer
				code := run(append([]string{cmd}, args...), &stdout, &stderr, nil)
				if code != exitUsage || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), tt.wantErr) {
					t.Errorf("%s %q: exit %d, stderr %q", cmd, tt.args, code, stderr.String())
				}
			}
		}
	}
}

// With --log-format json every line on stderr is a JSON object with time,
// level and msg: here a host whose DHCP lease comes from a server over
// an in-memory wire logs "host started" (debug) and "dhcp lease bound"
// (info, with the address).
func TestLogJSONLines(t *testing.T) {
	cfg, err := parseUp([]string{"--tap", "tap0", "--dhcp", "--log-format", "json", "--log-level", "debug"})
	if err != nil {
		t.Fatal(err)
	}
	var stderr stacktest.SyncBuffer
	logger := cfg.Log.logger(&stderr)

	a, b := link.Pipe(1500)
	gw, err := host.New(host.Config{NoSLAAC: true, Interfaces: []host.Interface{{Device: a, Addr: netip.MustParsePrefix("10.0.2.2/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	srv, err := dhcpd.New(gw.Stack(), gw.Stack().NICs()[0], dhcpd.Config{Subnet: netip.MustParsePrefix("10.0.2.0/24"),
		Router: netip.MustParseAddr("10.0.2.2"), RangeStart: netip.MustParseAddr("10.0.2.15")})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h, err := host.New(host.Config{NoSLAAC: true, Logger: logger, Interfaces: []host.Interface{{Device: b, DHCP: true}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.WaitDHCP(ctx); err != nil {
		t.Fatal(err)
	}
	h.Close()

	t.Logf("stderr:\n%s", stderr.String())
	msgs := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("line %q has no %q", sc.Text(), k)
			}
		}
		msgs[rec["msg"].(string)] = rec
	}
	if r := msgs["host started"]; r == nil || r["level"] != "DEBUG" {
		t.Errorf("host started: %v\n%s", r, stderr.String())
	}
	if r := msgs["dhcp lease bound"]; r == nil || r["level"] != "INFO" || r["addr"] != "10.0.2.15/24" || r["router"] != "10.0.2.2" || r["nic"] != "eth0" {
		t.Errorf("dhcp lease bound: %v\n%s", r, stderr.String())
	}
	if r := msgs["dhcp lease released"]; r == nil || r["level"] != "INFO" || msgs["dhcp lease lost"] != nil {
		t.Errorf("closing the host: want the lease released (info), not lost:\n%s", stderr.String())
	}
	if r := msgs["host closed"]; r == nil {
		t.Errorf("no host closed record:\n%s", stderr.String())
	}
}

// The :80 server's own complaints (here: a request it cannot parse)
// become debug records of the logger, not lines on stderr at the default
// level.
func TestHTTPErrorLogIsDebug(t *testing.T) {
	for _, tt := range []struct {
		level slog.Level
		want  bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		var buf stacktest.SyncBuffer
		l := logConfig{JSON: true, Level: tt.level}.logger(&buf)
		httpErrorLog(l, "http").Print("http: TLS handshake error from 10.0.0.1:5555: EOF")
		out := buf.String()
		var rec map[string]any
		if tt.want {
			if err := json.Unmarshal([]byte(out), &rec); err != nil || rec["level"] != "DEBUG" || rec["server"] != "http" ||
				!strings.Contains(rec["msg"].(string), "TLS handshake error") {
				t.Errorf("level %v: %q (%v)", tt.level, out, err)
			}
		} else if out != "" {
			t.Errorf("level %v: %q, want nothing", tt.level, out)
		}
	}
}
