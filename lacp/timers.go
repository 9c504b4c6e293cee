package lacp

import "time"

// Protocol times of 802.1AX-2014 6.4.4.
const (
	FastPeriodicTime  = 1 * time.Second  // periodic transmission, fast
	SlowPeriodicTime  = 30 * time.Second // periodic transmission, slow
	ShortTimeoutTime  = 3 * time.Second  // partner timeout, fast (3 × fast)
	LongTimeoutTime   = 90 * time.Second // partner timeout, slow (3 × slow)
	AggregateWaitTime = 2 * time.Second  // mux WAITING before ATTACHED
	txLimit           = 3                // LACPDUs per FastPeriodicTime (6.4.16)
)

// deadline is a timer of a machine: zero when stopped.
type deadline struct{ at time.Time }

func (d *deadline) start(now time.Time, after time.Duration) { d.at = now.Add(after) }
func (d *deadline) stop()                                    { d.at = time.Time{} }
func (d *deadline) running() bool                            { return !d.at.IsZero() }

// expired reports whether a running timer has run out at now.
func (d *deadline) expired(now time.Time) bool { return d.running() && !now.Before(d.at) }
