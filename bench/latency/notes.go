package latency

import (
	"fmt"
	"slices"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// latencyNotes lists what the tables do not show: schedule slips, lost
// connections, wrong deliveries and disturbances by other processes.
func latencyNotes(aggs []*aggregate) []string {
	var notes []string
	for _, a := range aggs {
		name := fmt.Sprintf("%s rows/s, %s", stats.Group(float64(a.rate)), a.spec().describe())
		if late := slices.Max(a.late); late > 100*time.Millisecond {
			notes = append(notes, fmt.Sprintf("%s: the load generator ended up to %s behind schedule: it offered fewer rows per second than asked (latency counts from each row's own sent_at).", name, late.Round(time.Millisecond)))
		}
		if a.unsent > 0 {
			notes = append(notes, fmt.Sprintf("%s: %s rows of the schedule were not inserted: the load gave up %s after its schedule ended.", name, stats.Group(float64(a.unsent)), loadLateLimit))
		}
		if a.subs > 0 {
			notes = append(notes, fmt.Sprintf("%s: connecting and joining all subscribers took %s (median).", name, stats.Median(a.connect).Round(time.Millisecond)))
		}
		if a.lostConns > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d connections lost (first: %v); %d slow-consumer closes in the server log.", name, a.lostConns, a.connErr, a.slow))
		} else if a.slow > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d slow-consumer closes in the server log.", name, a.slow))
		}
		if a.extra > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d deliveries more than expected (duplicates).", name, a.extra))
		}
		if a.misrouted > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d rows reached a subscriber whose eq filter they fail.", name, a.misrouted))
		}
		if a.lost > 0 {
			notes = append(notes, fmt.Sprintf("%s: fell behind: %s of %s expected deliveries arrived by the end of the drain limit.",
				name, stats.Group(float64(a.delivered)), stats.Group(float64(a.want))))
		}
		use := a.cpu.Mean()
		if other := use.Other(); other > 0.1 {
			notes = append(notes, fmt.Sprintf("%s: other processes on the machine used %.2f cores during the measurement.", name, other))
		}
		if a.notQuiet > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d of %d phases started while other processes still used ≥ %.2f cores (after waiting %s in all).",
				name, a.notQuiet, len(a.rounds), harness.QuietCores, a.quietWaited.Round(time.Second)))
		}
		if a.repeats > 0 || a.noisy > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d phase runs repeated because other processes took over %.2f cores; %d kept results still were.",
				name, a.repeats, harness.NoisyCores, a.noisy))
		}
		if steal := use.Steal; steal > 0.05 {
			notes = append(notes, fmt.Sprintf("%s: the hypervisor took %.2f cores (steal time) during the measurement.", name, steal))
		}
		if a.hist.Neg > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d deliveries arrived before their sent_at (clock stepped), counted as 0.", name, a.hist.Neg))
		}
	}
	return notes
}
