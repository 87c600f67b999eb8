// Package backoff computes how long to wait before retrying something that
// keeps failing: a capped exponential delay that starts over once the thing
// has stayed healthy for a while. The collector uses it to restart live
// sources, the Event Log watcher to resubscribe, the osquery source to
// reconnect.
package backoff

import "time"

// Defaults for a zero Policy.
const (
	DefaultMin     = time.Second
	DefaultMax     = 5 * time.Minute
	DefaultHealthy = time.Minute
)

// Policy says how delays grow. The zero value uses the defaults.
type Policy struct {
	Min     time.Duration // first delay; DefaultMin when zero
	Max     time.Duration // cap; DefaultMax when zero
	Healthy time.Duration // a run at least this long resets the delay; DefaultHealthy when zero
}

func (p Policy) withDefaults() Policy {
	if p.Min <= 0 {
		p.Min = DefaultMin
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Max < p.Min {
		p.Max = p.Min
	}
	if p.Healthy <= 0 {
		p.Healthy = DefaultHealthy
	}
	return p
}

// Backoff is the state of one retried thing. The zero value is not usable:
// make one with New.
type Backoff struct {
	p    Policy
	next time.Duration
}

// New returns a Backoff whose first delay is p.Min.
func New(p Policy) *Backoff {
	p = p.withDefaults()
	return &Backoff{p: p, next: p.Min}
}

// Next returns the delay before the next attempt, given how long the last
// attempt ran before it failed. A run of at least Healthy starts the
// sequence over at Min; otherwise each delay doubles up to Max.
func (b *Backoff) Next(ran time.Duration) time.Duration {
	if ran >= b.p.Healthy {
		b.next = b.p.Min
	}
	d := b.next
	b.next *= 2
	if b.next > b.p.Max || b.next <= 0 {
		b.next = b.p.Max
	}
	return d
}

// Reset starts the sequence over at Min.
func (b *Backoff) Reset() { b.next = b.p.Min }
