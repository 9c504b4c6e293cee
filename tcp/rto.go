package tcp

import "time"

// rttEstimator computes the retransmission timeout of RFC 6298.
type rttEstimator struct {
	srtt, rttvar time.Duration
	rto          time.Duration
	hasSample    bool
	min, max     time.Duration
	latest       time.Duration // the last sample
}

func (r *rttEstimator) init(initial, min, max time.Duration) {
	*r = rttEstimator{rto: initial, min: min, max: max}
}

// sample feeds one RTT measurement (RFC 6298 section 2.2 and 2.3) and
// recomputes the RTO, which also clears any backoff.
func (r *rttEstimator) sample(m time.Duration) {
	if m <= 0 {
		m = time.Microsecond
	}
	r.latest = m
	if !r.hasSample {
		r.srtt, r.rttvar, r.hasSample = m, m/2, true
	} else {
		d := r.srtt - m
		if d < 0 {
			d = -d
		}
		r.rttvar = (3*r.rttvar + d) / 4
		r.srtt = (7*r.srtt + m) / 8
	}
	// Clock granularity G: our clocks are fine-grained; use 1ms.
	r.rto = r.srtt + max(time.Millisecond, 4*r.rttvar)
	r.clamp()
}

// backoff doubles the RTO after a timeout (RFC 6298 section 5.5).
func (r *rttEstimator) backoff() {
	r.rto *= 2
	r.clamp()
}

func (r *rttEstimator) clamp() {
	if r.rto < r.min {
		r.rto = r.min
	}
	if r.rto > r.max {
		r.rto = r.max
	}
}
