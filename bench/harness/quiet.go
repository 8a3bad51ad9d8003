package harness

import (
	"context"
	"fmt"
	"os"
	"time"
)

// WaitDelivered waits until got reaches want, or stalls for 5 s, or limit
// passes (the gap is then reported as missing), or failed reports an error.
func WaitDelivered(ctx context.Context, got func() int64, want int64, failed func() error, limit time.Duration) error {
	last, lastChange := got(), time.Now()
	deadline := lastChange.Add(limit)
	for {
		n := got()
		switch {
		case n >= want || failed() != nil || time.Now().After(deadline):
			return nil
		case n != last:
			last, lastChange = n, time.Now()
		case time.Since(lastChange) > 5*time.Second:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// QuietCores is how much CPU processes outside the run may use for a phase
// to start without waiting.
const QuietCores = 0.15

// Quietness is what waitQuiet saw before a phase.
type Quietness struct {
	Waited time.Duration
	Other  float64 // cores used by other processes in the last second
}

// WaitQuiet waits, up to --quiet-wait, until processes outside this run
// use less than quietCores, so that other work on a shared machine lands
// in as few phases as possible.
func (b *PGBench) WaitQuiet(ctx context.Context) (Quietness, error) {
	start := time.Now()
	for said := false; ; said = true {
		if b.quietWait <= 0 {
			return Quietness{}, nil
		}
		a := TakeCPU(b.Postmaster, 0)
		select {
		case <-ctx.Done():
			return Quietness{}, ctx.Err()
		case <-time.After(time.Second):
		}
		q := Quietness{Waited: time.Since(start), Other: a.Until(TakeCPU(b.Postmaster, 0)).Other()}
		if q.Other < QuietCores || q.Waited >= b.quietWait {
			return q, nil
		}
		if !said {
			fmt.Fprintf(os.Stderr, "waiting for other processes to quiet down (%.2f cores busy) ...\n", q.Other)
		}
	}
}

// NoisyCores is how much CPU other processes may take during a phase
// before it is repeated (--retries).
const NoisyCores = 0.25
