package arp

import (
	"math/rand/v2"
	"time"
)

// Options configure the ARP protocol. The zero value gives Linux-like
// defaults (the net.ipv4.neigh.default.* sysctls); each field documents its
// default and the sysctl it mirrors.
type Options struct {
	// QueueBytes bounds the packets waiting for one unresolved next hop
	// by their total size (the network packets, without link headers).
	// When a new packet would take the queue over it, the oldest packets
	// are dropped (each counted as "arp.tx.queue_overflow"); a packet
	// larger than QueueBytes on its own still waits, alone. Default
	// 212992 (unres_qlen_bytes, Linux's limit since 3.3, which counts the
	// kernel's buffer sizes rather than packet lengths), so that all the
	// fragments of a large datagram survive resolution.
	QueueBytes int
	// QueueLen additionally caps how many packets may wait for one
	// unresolved next hop, oldest dropped first as for QueueBytes; it
	// keeps a stream of tiny packets from holding thousands of buffers.
	// Default 101, the unres_qlen Linux derives from unres_qlen_bytes for
	// full-size frames; a negative value means no packet cap (bytes
	// only).
	QueueLen int
	// RetransTime is the interval between broadcast requests while a next
	// hop is unresolved, and the wait after the last one before giving up.
	// Default 1s (retrans_time_ms).
	RetransTime time.Duration
	// MaxProbes is how many broadcast requests are sent for one resolution
	// attempt before it fails. Default 3 (mcast_solicit).
	MaxProbes int
	// ReachableTime is the base of how long a confirmed entry stays
	// REACHABLE before it becomes STALE; like Linux, each entry waits a
	// random time in [0.5, 1.5) × ReachableTime (drawn from Rand). STALE
	// entries are still used to send. Default 30s (base_reachable_time_ms).
	ReachableTime time.Duration
	// GCStaleTime is how long a STALE entry that nothing sends through,
	// or a FAILED entry, is kept before it is removed. Default 60s
	// (gc_stale_time).
	GCStaleTime time.Duration
	// CacheSize bounds the number of entries, all interfaces together.
	// When the cache is full, FAILED entries are evicted first, then STALE
	// ones; INCOMPLETE and REACHABLE entries are never evicted, so a new
	// resolution then fails with ENOBUFS, as Linux does above gc_thresh3.
	// Default 512.
	CacheSize int

	// DelayFirstProbeTime is how long a STALE entry that was used to send
	// waits in DELAY for a confirmation (a reply to us) before PROBE starts
	// reconfirming it with unicast requests. Default 5s
	// (delay_first_probe_time).
	DelayFirstProbeTime time.Duration
	// UcastProbes is how many unicast requests, RetransTime apart, PROBE
	// sends before the entry FAILS. Default 3 (ucast_solicit).
	UcastProbes int

	// RequestRate is how many requests per second (broadcast resolution
	// and unicast reconfirmation, all interfaces together) ARP sends at
	// most; a token bucket of RequestBurst tokens refilled at this rate.
	// A request over the limit is not sent (counted as
	// "arp.tx.rate_limited"); its entry still retries after RetransTime.
	// Replies, announcements and conflict-detection probes are not
	// limited. Default 100 per second, burst 100.
	RequestRate float64
	// RequestBurst is the token bucket's size. Default 100.
	RequestBurst int

	// ProbeWait, ProbeNum, ProbeMin, ProbeMax and AnnounceWait time address
	// conflict detection (Probe), as RFC 5227 section 1.1 names them: wait
	// a random time up to ProbeWait (default 1s), send ProbeNum probes
	// (default 3) ProbeMin..ProbeMax apart (defaults 1s, 2s), then wait
	// AnnounceWait (default 2s) for a conflicting answer.
	ProbeWait    time.Duration
	ProbeNum     int
	ProbeMin     time.Duration
	ProbeMax     time.Duration
	AnnounceWait time.Duration
	// DefendInterval is the least time between two announcements that
	// defend one of our addresses against a host claiming it (RFC 5227
	// DEFEND_INTERVAL). Default 10s.
	DefendInterval time.Duration

	// Rand returns a random number in [0, 1); it randomises ReachableTime
	// and the probe delays. Nil means math/rand/v2.Float64; tests inject a
	// fixed or seeded source to be deterministic.
	Rand func() float64
}

// Defaults of Options.
const (
	DefaultQueueBytes    = 212992
	DefaultQueueLen      = 101
	DefaultRetransTime   = time.Second
	DefaultMaxProbes     = 3
	DefaultReachableTime = 30 * time.Second
	DefaultGCStaleTime   = 60 * time.Second
	DefaultCacheSize     = 512

	DefaultDelayFirstProbeTime = 5 * time.Second
	DefaultUcastProbes         = 3
	DefaultRequestRate         = 100
	DefaultRequestBurst        = 100

	DefaultProbeWait      = time.Second
	DefaultProbeNum       = 3
	DefaultProbeMin       = time.Second
	DefaultProbeMax       = 2 * time.Second
	DefaultAnnounceWait   = 2 * time.Second
	DefaultDefendInterval = 10 * time.Second
)

// withDefaults fills zero (or negative) fields with their defaults.
func (o Options) withDefaults() Options {
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.QueueLen == 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.RetransTime <= 0 {
		o.RetransTime = DefaultRetransTime
	}
	if o.MaxProbes <= 0 {
		o.MaxProbes = DefaultMaxProbes
	}
	if o.ReachableTime <= 0 {
		o.ReachableTime = DefaultReachableTime
	}
	if o.GCStaleTime <= 0 {
		o.GCStaleTime = DefaultGCStaleTime
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.DelayFirstProbeTime <= 0 {
		o.DelayFirstProbeTime = DefaultDelayFirstProbeTime
	}
	if o.UcastProbes <= 0 {
		o.UcastProbes = DefaultUcastProbes
	}
	if o.RequestRate <= 0 {
		o.RequestRate = DefaultRequestRate
	}
	if o.RequestBurst <= 0 {
		o.RequestBurst = DefaultRequestBurst
	}
	if o.ProbeWait <= 0 {
		o.ProbeWait = DefaultProbeWait
	}
	if o.ProbeNum <= 0 {
		o.ProbeNum = DefaultProbeNum
	}
	if o.ProbeMin <= 0 {
		o.ProbeMin = DefaultProbeMin
	}
	if o.ProbeMax <= 0 {
		o.ProbeMax = DefaultProbeMax
	}
	if o.ProbeMax < o.ProbeMin {
		o.ProbeMax = o.ProbeMin
	}
	if o.AnnounceWait <= 0 {
		o.AnnounceWait = DefaultAnnounceWait
	}
	if o.DefendInterval <= 0 {
		o.DefendInterval = DefaultDefendInterval
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return o
}
