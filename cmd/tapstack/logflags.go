package main

import (
	"flag"
	"io"
	"log"
	"log/slog"
	"strings"
)

// logConfig is --log-format and --log-level of up and gateway: the
// log records of the host and its TAPs (DHCP leases, offloads the
// kernel refused, a TAP reader that stopped) go to stderr as text or JSON
// lines (log/slog). The lines the command prints for people ("tapstack:
// up on ...") are not log records and keep their form.
type logConfig struct {
	JSON  bool
	Level slog.Level
}

// logFlags are the two flags registered on a FlagSet.
type logFlags struct{ format, level *string }

// addLogFlags registers --log-format (text) and --log-level (info) on fs.
func addLogFlags(fs *flag.FlagSet) logFlags {
	return logFlags{fs.String("log-format", "text", ""), fs.String("log-level", "info", "")}
}

// parse checks the flags' values.
func (f logFlags) parse() (logConfig, error) { return parseLogConfig(*f.format, *f.level) }

// logLevels are the --log-level values.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// parseLogConfig parses a --log-format and a --log-level value (the
// level's case does not matter).
func parseLogConfig(format, level string) (logConfig, error) {
	var c logConfig
	switch format {
	case "text":
	case "json":
		c.JSON = true
	default:
		return c, usagef("malformed --log-format %q: want text or json", format)
	}
	l, ok := logLevels[strings.ToLower(level)]
	if !ok {
		return c, usagef("malformed --log-level %q: want debug, info, warn or error", level)
	}
	c.Level = l
	return c, nil
}

// logger returns the logger writing c's records to w.
func (c logConfig) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level}
	if c.JSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// httpErrorLog is the ErrorLog of a net/http server: its messages (a
// client's malformed request, a TLS handshake on :80, an accept error)
// become debug records of l, with server=name. Anyone on the network can
// provoke them, so they stay below the default level.
func httpErrorLog(l *slog.Logger, name string) *log.Logger {
	return slog.NewLogLogger(l.With("server", name).Handler(), slog.LevelDebug)
}
