package link

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limits ParseFaults enforces on its values.
const (
	// MaxFaultDelay bounds delay= and jitter=.
	MaxFaultDelay = time.Hour
	// MaxFaultQueue bounds queue=.
	MaxFaultQueue = 1 << 24
)

// faultNames lists the names ParseFaults knows, for its error message.
const faultNames = "loss, duplicate, reorder, corrupt, corrupt-all, delay, jitter, rate, queue, seed or mirror"

// ParseFaults parses a fault specification such as
// "loss=2%,duplicate=1%,reorder=1%,corrupt=0.1%,delay=1ms,seed=7". A
// fault name alone sets both directions; prefixed with "tx." or "rx." it
// sets one ("rx.loss=5%"). Later items override earlier ones.
//
// The names and their values:
//
//	loss, duplicate, reorder, corrupt   a rate: a percentage ("2%") or a fraction ("0.02")
//	corrupt-all                         a rate; like corrupt, but any frame may be hit,
//	                                    not only IPv4 (sets Corrupt and CorruptAll)
//	delay, jitter                       a Go duration ("1ms", "200us"), at most MaxFaultDelay
//	rate                                bits per second with a unit: bit, kbit, mbit or gbit
//	                                    (powers of 1000, as tc has them): "100mbit", "1.5gbit";
//	                                    0 means unlimited
//	queue                               the frames a direction holds (1 to MaxFaultQueue)
//	seed                                a non-negative integer
//	mirror                              on or off (the default): the receive direction
//	                                    draws the transmit direction's faults, frame for
//	                                    frame (FaultConfig.Mirror)
func ParseFaults(s string) (FaultConfig, error) {
	var c FaultConfig
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			return FaultConfig{}, fmt.Errorf("fault %q: want name=value, like loss=2%%", item)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "seed" {
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return FaultConfig{}, fmt.Errorf("fault seed %q: want a non-negative integer", val)
			}
			c.Seed = n
			continue
		}
		if key == "mirror" {
			switch val {
			case "on":
				c.Mirror = true
			case "off":
				c.Mirror = false
			default:
				return FaultConfig{}, fmt.Errorf("fault mirror=%s: want on or off", val)
			}
			continue
		}
		dirs := []*FaultRates{&c.Tx, &c.Rx}
		if d, name, ok := strings.Cut(key, "."); ok {
			switch d {
			case "tx":
				dirs = dirs[:1]
			case "rx":
				dirs = dirs[1:]
			default:
				return FaultConfig{}, fmt.Errorf("fault %q: direction must be tx or rx", key)
			}
			key = name
		}
		set, err := parseFault(key, val)
		if err != nil {
			return FaultConfig{}, err
		}
		for _, r := range dirs {
			set(r)
		}
	}
	return c, nil
}

// parseFault parses the value of one fault and returns what it sets.
func parseFault(key, val string) (func(*FaultRates), error) {
	wrap := func(err error) error { return fmt.Errorf("fault %s=%s: %v", key, val, err) }
	switch key {
	case "loss", "duplicate", "reorder", "corrupt", "corrupt-all":
		rate, err := parseRate(val)
		if err != nil {
			return nil, wrap(err)
		}
		return func(r *FaultRates) {
			switch key {
			case "loss":
				r.Loss = rate
			case "duplicate":
				r.Duplicate = rate
			case "reorder":
				r.Reorder = rate
			case "corrupt":
				r.Corrupt, r.CorruptAll = rate, false
			case "corrupt-all":
				r.Corrupt, r.CorruptAll = rate, true
			}
		}, nil
	case "delay", "jitter":
		d, err := time.ParseDuration(val)
		switch {
		case err != nil:
			return nil, wrap(fmt.Errorf("want a duration like 1ms or 200us"))
		case d < 0:
			return nil, wrap(fmt.Errorf("must not be negative"))
		case d > MaxFaultDelay:
			return nil, wrap(fmt.Errorf("at most %v", MaxFaultDelay))
		}
		if key == "delay" {
			return func(r *FaultRates) { r.Delay = d }, nil
		}
		return func(r *FaultRates) { r.Jitter = d }, nil
	case "rate":
		bps, err := parseBitRate(val)
		if err != nil {
			return nil, wrap(err)
		}
		return func(r *FaultRates) { r.Rate = bps }, nil
	case "queue":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > MaxFaultQueue {
			return nil, wrap(fmt.Errorf("want a number of frames from 1 to %d", MaxFaultQueue))
		}
		return func(r *FaultRates) { r.Queue = n }, nil
	}
	return nil, fmt.Errorf("unknown fault %q (want %s)", key, faultNames)
}

// parseRate parses "2%" or "0.02" into 0.02.
func parseRate(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("want a percentage like 2%% or a fraction like 0.02")
	}
	if pct {
		v /= 100
	}
	if v < 0 || v > 1 || v != v {
		return 0, fmt.Errorf("rate must be between 0%% and 100%%")
	}
	return v, nil
}

// bitUnits are the units of parseBitRate, longest suffix first.
var bitUnits = []struct {
	suffix string
	mult   float64
}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}

// parseBitRate parses "100mbit" into 100e6 bits per second.
func parseBitRate(s string) (uint64, error) {
	const want = "want bits per second with a unit, like 100mbit (bit, kbit, mbit, gbit)"
	ls := strings.ToLower(s)
	for _, u := range bitUnits {
		num, ok := strings.CutSuffix(ls, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || v != v {
			return 0, fmt.Errorf(want)
		}
		v *= u.mult
		switch {
		case v < 0:
			return 0, fmt.Errorf("must not be negative")
		case v == 0:
			return 0, nil
		case v < 1:
			return 0, fmt.Errorf("at least 1bit per second")
		case v >= math.MaxUint64/2:
			return 0, fmt.Errorf("too large")
		}
		return uint64(v), nil
	}
	return 0, fmt.Errorf(want)
}
