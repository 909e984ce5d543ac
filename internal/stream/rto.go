package stream

import "time"

// rttEstimator is the Jacobson/Karels estimator of protocol.md §4.4, as both
// the plugin and the agent run it (float64 nanoseconds).
type rttEstimator struct {
	srtt, rttvar float64
	rto          time.Duration
	granularity  float64
	max          time.Duration
}

func newRTT(cfg *Config) rttEstimator {
	return rttEstimator{
		srtt:        float64(cfg.InitialRTT),
		rto:         cfg.InitialRTO,
		granularity: float64(cfg.ClockGranularity),
		max:         cfg.MaxRTO,
	}
}

// sample folds in one round-trip time r.
func (e *rttEstimator) sample(r time.Duration) {
	if r < 0 {
		r = 0
	}
	rf := float64(r)
	diff := e.srtt - rf
	if diff < 0 {
		diff = -diff
	}
	e.rttvar = 0.75*e.rttvar + 0.25*diff
	e.srtt = 0.875*e.srtt + 0.125*rf
	e.rto = time.Duration(e.srtt + max(e.granularity, 4*e.rttvar))
	if e.rto > e.max {
		e.rto = e.max
	}
}
