package main

// Parsing of the limits flags of `up`: --status, --max-conns,
// --idle-timeout and --memory-limit.

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// parseLimits checks --status, --max-conns, --idle-timeout and
// --memory-limit into cfg; MaxConns and Idle stay zero (the defaults)
// unless given.
func parseLimits(cfg *upConfig, set map[string]bool, status string, maxConns int, idle, memLimit string) error {
	m, ok := statusModes[status]
	if !ok {
		return usagef("malformed --status %q: want public (the default: the page on :80 without peer addresses and counters), full or off", status)
	}
	cfg.Status = m
	if maxConns < 1 || maxConns > 65535 {
		return usagef("--max-conns %d is out of range: want 1..65535 connections per service", maxConns)
	}
	if set["max-conns"] {
		cfg.MaxConns = maxConns
	}
	d, err := time.ParseDuration(idle)
	if err != nil || d < time.Second {
		return usagef("malformed --idle-timeout %q: want a duration of at least 1s, e.g. 2m", idle)
	}
	if set["idle-timeout"] {
		cfg.Idle = d
	}
	if memLimit != "" {
		n, err := parseSize(memLimit)
		if err != nil || n < 16<<20 {
			return usagef("malformed --memory-limit %q: want a size of at least 16MiB, e.g. 256MiB or 1GiB", memLimit)
		}
		cfg.MemoryLimit = n
	}
	return nil
}

// parseSize parses a byte count with an optional binary suffix: 1048576,
// 512KiB, 256MiB, 1GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errors.New("malformed size")
	}
	return n * mult, nil
}
