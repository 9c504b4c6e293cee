package arp

import "time"

// Options configure the ARP protocol. The zero value gives Linux-like
// defaults (the net.ipv4.neigh.default.* sysctls); each field documents its
// default and the sysctl it mirrors.
type Options struct {
	// QueueLen is how many packets may wait for one unresolved next hop.
	// When the queue is full the oldest packet is dropped (counted as
	// "arp.tx.queue_overflow"). Default 3 (Linux bounds the queue in bytes,
	// unres_qlen_bytes; three packets is the classic unres_qlen).
	QueueLen int
	// RetransTime is the interval between broadcast requests while a next
	// hop is unresolved, and the wait after the last one before giving up.
	// Default 1s (retrans_time_ms).
	RetransTime time.Duration
	// MaxProbes is how many broadcast requests are sent for one resolution
	// attempt before it fails. Default 3 (mcast_solicit).
	MaxProbes int
	// ReachableTime is how long a confirmed entry stays REACHABLE before it
	// becomes STALE. STALE entries are still used to send. Default 30s
	// (base_reachable_time_ms; Linux randomises it to 15–45s, we do not).
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
}

// Defaults of Options.
const (
	DefaultQueueLen      = 3
	DefaultRetransTime   = time.Second
	DefaultMaxProbes     = 3
	DefaultReachableTime = 30 * time.Second
	DefaultGCStaleTime   = 60 * time.Second
	DefaultCacheSize     = 512
)

// withDefaults fills zero (or negative) fields with their defaults.
func (o Options) withDefaults() Options {
	if o.QueueLen <= 0 {
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
	return o
}
