package tcp

import "time"

// rttEstimator computes the retransmission timeout of RFC 6298. The
// RTO's bounds are the configuration's, passed in, not kept in every
// connection; whether a sample was taken is srtt's being set (samples
// are at least a microsecond, and the average of such never reaches
// zero): 24 bytes of each endpoint.
type rttEstimator struct {
	srtt, rttvar time.Duration
	rto          time.Duration
	latest       time.Duration // the last sample
}

func (r *rttEstimator) init(initial time.Duration) {
	*r = rttEstimator{rto: initial}
}

// hasSample reports whether an RTT was measured yet.
func (r *rttEstimator) hasSample() bool { return r.srtt != 0 }

// sample feeds one RTT measurement (RFC 6298 section 2.2 and 2.3) and
// recomputes the RTO, within [lo, hi], which also clears any backoff.
func (r *rttEstimator) sample(m, lo, hi time.Duration) {
	if m <= 0 {
		m = time.Microsecond
	}
	r.latest = m
	if !r.hasSample() {
		r.srtt, r.rttvar = m, m/2
	} else {
		d := r.srtt - m
		if d < 0 {
			d = -d
		}
		r.rttvar = (3*r.rttvar + d) / 4
		r.srtt = (7*r.srtt + m) / 8
	}
	// Clock granularity G: our clocks are fine-grained; use 1ms.
	r.rto = min(max(r.srtt+max(time.Millisecond, 4*r.rttvar), lo), hi)
}

// backoff doubles the RTO after a timeout (RFC 6298 section 5.5), within
// [lo, hi].
func (r *rttEstimator) backoff(lo, hi time.Duration) {
	r.rto = min(max(2*r.rto, lo), hi)
}
