package webhook

import "time"

// defaultSchedule is the Standard Webhooks retry schedule: the delay before
// each attempt, counted from the previous failure. The first attempt is
// immediate; after the tenth fails the delivery is dead, about three days
// and four hours after the event.
var defaultSchedule = [...]time.Duration{
	0,
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	14 * time.Hour,
	20 * time.Hour,
	24 * time.Hour,
}

// DefaultSchedule returns a copy of the Standard Webhooks retry schedule
// (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h).
func DefaultSchedule() []time.Duration {
	s := defaultSchedule
	return s[:]
}

// DefaultJitter is the fraction by which each retry delay is randomly
// lengthened or shortened, so deliveries that failed together do not all
// come back at the same instant.
const DefaultJitter = 0.1

// nextDelay returns the delay before attempt number attempts+1, after
// attempts attempts have failed, and false when the schedule is exhausted.
// r is a random number in [0, 1).
func nextDelay(schedule []time.Duration, attempts int, jitter, r float64) (time.Duration, bool) {
	if attempts < 0 || attempts >= len(schedule) {
		return 0, false
	}
	d := schedule[attempts]
	if d <= 0 || jitter <= 0 {
		return d, true
	}
	return d + time.Duration(float64(d)*jitter*(2*r-1)), true
}
