package ndp

import (
	"math/rand/v2"
	"time"
)

// Options configure Neighbour Discovery. The zero value gives the RFC 4861
// and Linux defaults (net.ipv6.neigh.default.*, net.ipv6.conf.default.*);
// each field documents its default.
type Options struct {
	// QueueBytes and QueueLen bound the packets waiting for one unresolved
	// neighbour, as arp.Options does: the oldest are dropped first (each
	// counted as "ndp.tx.queue_overflow"). Defaults 212992 bytes and 101
	// packets (Linux unres_qlen_bytes, unres_qlen); a negative QueueLen
	// means bytes only.
	QueueBytes int
	QueueLen   int
	// RetransTimer is the interval between solicitations
	// (RETRANS_TIMER, default 1s); a router advertisement may change it
	// per interface.
	RetransTimer time.Duration
	// MaxMulticastSolicit is how many multicast solicitations resolve a
	// neighbour before it fails (MAX_MULTICAST_SOLICIT, default 3).
	MaxMulticastSolicit int
	// MaxUnicastSolicit is how many unicast probes PROBE sends before the
	// entry fails (MAX_UNICAST_SOLICIT, default 3).
	MaxUnicastSolicit int
	// ReachableTime is the base of how long a confirmed entry stays
	// REACHABLE; each entry waits a random [0.5, 1.5) × ReachableTime
	// (REACHABLE_TIME, default 30s). A router advertisement may change it
	// per interface.
	ReachableTime time.Duration
	// DelayFirstProbeTime is the wait in DELAY before probing
	// (DELAY_FIRST_PROBE_TIME, default 5s).
	DelayFirstProbeTime time.Duration
	// GCStaleTime is how long an unused STALE or a FAILED entry is kept
	// (Linux gc_stale_time, default 60s).
	GCStaleTime time.Duration
	// CacheSize bounds the neighbour cache, all interfaces together; when
	// it is full FAILED then STALE entries are evicted, oldest first
	// (counted as "ndp.cache.evicted"), and a new resolution fails with
	// ENOBUFS if none can be. Default 512.
	CacheSize int
	// SolicitRate and SolicitBurst rate-limit the solicitations sent for
	// resolution and probing (a token bucket, all interfaces together);
	// over the limit one is skipped and counted as "ndp.tx.rate_limited".
	// Defaults 100 per second, burst 100.
	SolicitRate  float64
	SolicitBurst int

	// DupAddrDetectTransmits is how many neighbour solicitations duplicate
	// address detection sends, RetransTimer apart (RFC 4862, default 1).
	DupAddrDetectTransmits int

	// StableSecret, if set, makes SLAAC form stable, opaque interface
	// identifiers (RFC 7217) keyed by it, instead of EUI-64 ones. It should
	// be at least 16 random bytes kept across restarts.
	StableSecret []byte
	// NetworkID is the optional Network_ID input of RFC 7217 (an SSID,
	// say); empty by default.
	NetworkID []byte

	// MaxRouters, MaxPrefixes and MaxDNSServers bound, per interface, the
	// default router list, the prefix list (on-link and SLAAC) and the
	// RDNSS list learnt from router advertisements; an advertisement for
	// one more is ignored and counted ("ndp.ra.routers_full", ...).
	// Defaults 8, 16 and 8.
	MaxRouters    int
	MaxPrefixes   int
	MaxDNSServers int
	// RouterSolicitations is how many router solicitations a host sends
	// when it starts autoconfiguration, RouterSolicitationInterval apart,
	// until an advertisement arrives (RFC 4861 6.3.7: 3 and 4s).
	RouterSolicitations        int
	RouterSolicitationInterval time.Duration

	// Rand returns a random number in [0, 1) for the randomised timers.
	// Nil means math/rand/v2.Float64; tests inject a fixed source.
	Rand func() float64
}

// Defaults of Options.
const (
	DefaultQueueBytes          = 212992
	DefaultQueueLen            = 101
	DefaultRetransTimer        = time.Second
	DefaultMaxMulticastSolicit = 3
	DefaultMaxUnicastSolicit   = 3
	DefaultReachableTime       = 30 * time.Second
	DefaultDelayFirstProbeTime = 5 * time.Second
	DefaultGCStaleTime         = 60 * time.Second
	DefaultCacheSize           = 512
	DefaultSolicitRate         = 100
	DefaultSolicitBurst        = 100
	DefaultDupAddrDetect       = 1
	DefaultMaxRouters          = 8
	DefaultMaxPrefixes         = 16
	DefaultMaxDNSServers       = 8
	DefaultRouterSolicitations = 3
	DefaultRSInterval          = 4 * time.Second
)

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.QueueBytes, DefaultQueueBytes)
	if o.QueueLen == 0 {
		o.QueueLen = DefaultQueueLen
	}
	defD(&o.RetransTimer, DefaultRetransTimer)
	def(&o.MaxMulticastSolicit, DefaultMaxMulticastSolicit)
	def(&o.MaxUnicastSolicit, DefaultMaxUnicastSolicit)
	defD(&o.ReachableTime, DefaultReachableTime)
	defD(&o.DelayFirstProbeTime, DefaultDelayFirstProbeTime)
	defD(&o.GCStaleTime, DefaultGCStaleTime)
	def(&o.CacheSize, DefaultCacheSize)
	if o.SolicitRate <= 0 {
		o.SolicitRate = DefaultSolicitRate
	}
	def(&o.SolicitBurst, DefaultSolicitBurst)
	def(&o.DupAddrDetectTransmits, DefaultDupAddrDetect)
	def(&o.MaxRouters, DefaultMaxRouters)
	def(&o.MaxPrefixes, DefaultMaxPrefixes)
	def(&o.MaxDNSServers, DefaultMaxDNSServers)
	def(&o.RouterSolicitations, DefaultRouterSolicitations)
	defD(&o.RouterSolicitationInterval, DefaultRSInterval)
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return o
}
