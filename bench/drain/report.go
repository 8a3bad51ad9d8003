package drain

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"

	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// drainReport is everything the drain report and its JSON results say.
type drainReport struct {
	opt                   drainOptions
	machine               string
	loadBefore, loadAfter string
	runs                  []*drainRun
	measured              []stats.Result // per load, in the order of consumers
	consumers             []consumer
}

// drainMethod says how the runs are made, timed and checked, so that a
// reader can check it against the code (consumer.go, serve.go,
// slotwatch.go).
const drainMethod = `### Method

Drain of identical WAL: each run reads a fresh copy of the load's template slot (pg_copy_logical_replication_slot), so every consumer decodes the same WAL from the same point. ` +
	`Consumers take turns, one at a time, their order rotating from run to run; walcast tail, which is not checked on timed runs, first has one untimed check run.

- Plugin options: pg_recvlogical gets walcast's own (proto_version 2, publication_names walcast, messages true), so both ask pgoutput for the same protocol and messages.
- Timing, the same events for every consumer: from the consumer's walsender acquiring the slot (pg_replication_slots.active_pid, polled every 1 ms on a connection of its own) ` +
	`to the last row's arrival at the consumer. Process start, connecting and (for walcast serve) joining come before and are left out for all.
- pg_recvlogical: up to the LSN after the load (-E), output to stdout, which the bench reads; the last row is the last byte it prints. Check, every run: the slot's confirmed_flush_lsn reached that LSN.
- walcast tail: JSON lines to stdout, which the bench reads; exits after the load's row count; the last row is the last byte it prints. Check, on the check run (output copied to a file): exactly the load's rows, ids in order.
- walcast serve, 1 WebSocket subscriber: walcast's defaults (1 MiB queue per connection); the subscriber (in the bench process, vsn 2.0.0, no compression, the WebSocket library's default buffers) joins postgres_changes on the load's table (public.items for the rows family), all events, no filter. ` +
	`The bench holds the copy slot while the server starts and the subscriber joins, then lets go; the server takes the slot on its next retry. ` +
	`walcast closes a subscriber that falls 1 MiB behind the decoder (4000 slow consumer), by design; such a run counts as failed. Check, every run: exactly the load's rows, ids in order.
- walcast serve with a 256 MiB queue and a 256 KB client buffer: the same with --queue-bytes 256 MiB (WALCAST_QUEUE_BYTES) and a 256 KB read buffer under the subscriber, as a deployment serving catch-up consumers would set. ` +
	`A separate row with no target: it is not walcast's default.

A run in which a consumer does not deliver every row counts as failed and has no time; a target with a failed run is not met.

CPU: for pg_recvlogical and walcast tail the client process, start to exit (from its rusage); for walcast serve the server process plus the bench process ` +
	`(the subscriber, and the bench's walsender readings) from just before the slot is released to the last row (/proc/<pid>/stat, 10 ms ticks). ` +
	`Walsender CPU: the walsender that acquired the slot, from acquiring it to its last reading (every 2 ms, so up to 2 ms before its exit), the same for every consumer: ` +
	`a consumer that reads slowly makes the walsender wait and write larger batches, which shows here.
Loads of the rows family: the items table (bigint identity, uuid, text, int, numeric, text[], jsonb, bool, timestamptz) and a text note that pads each row to the size asked for, stored PLAIN (neither compressed nor moved out of line by TOAST); sizes below are pg_column_size of the loaded rows. ` +
	`logical_decoding_work_mem = 1GB, so no transaction is spilled to disk.

Wide-row loads (wide.go), each one transaction, its rows changed in id order by a procedure; the rows an update or delete changes are inserted before the load's slot exists, so only the changes are drained:

- toast: the docs table (bigint key, title, int version, text body stored EXTERNAL: out of line in the TOAST table, uncompressed, so each body reaches the WAL at full size). ` +
	`Insert of rows with a body of --toast-size bytes; update of the version that leaves the body unchanged (pgoutput sends an unchanged-TOAST marker instead of the value; walcast leaves the column out of record and names it in unchanged_toast); update writing a new body of the same size. ` +
	`Row sizes below count the body at its full length.
- identity: items_full, the items columns with REPLICA IDENTITY FULL and the largest --row-sizes row: update of qty (the WAL and every consumer carry the old row too) and delete (the whole old row).
- Checks as above, per change: walcast tail, the type, table and id of each line (old_record's id for a DELETE); the subscriber joins postgres_changes on the load's table and checks the type and id of each change.`

func (r drainReport) write(w io.Writer) error {
	var notes []string
	for _, d := range r.runs {
		notes = append(notes, fmt.Sprintf("- %s: %s; rows of %s bytes on average, %.1f MB of WAL (%s bytes/row), loaded in %.2f s",
			d.name(), d.desc, stats.Group(d.rowBytes), float64(d.walBytes)/1e6, stats.Group(float64(d.walBytes)/float64(d.rows)), d.loadTime.Seconds()))
	}
	quick := ""
	if r.opt.quick {
		quick = "Quick run (smoke test): smaller loads than the full run, figures not comparable to it.\n\n"
	}
	if _, err := fmt.Fprintf(w, "%s%s\n\n%s Load average (1 min) before / after the runs: %s / %s.\n\nLoads:\n%s\n\n",
		quick, drainMethod, r.machine, r.loadBefore, r.loadAfter, strings.Join(notes, "\n")); err != nil {
		return err
	}
	if err := stats.WriteRateTable(w, r.measured, r.consumers[0].name, "consumer CPU s (median; serve: server + subscriber)"); err != nil {
		return err
	}
	if _, err := fmt.Fprint(w, "\nTargets (median rows/s ÷ pg_recvlogical's on the same load; a run that misses rows fails the target):\n\n"+
		"| target | goal | measured | met | note |\n|---|---|---|---|---|\n"); err != nil {
		return err
	}
	for _, t := range r.targets() {
		met := "no"
		if t.Met {
			met = "yes"
		}
		if _, err := fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", t.Name, t.Goal, t.Measured, met, t.Note); err != nil {
			return err
		}
	}
	return nil
}

// results is the --json form of the report.
func (r drainReport) results() report.Results {
	return report.Results{Workload: "drain", Machine: r.machine, Targets: r.targets(), Series: r.series()}
}

// targets has one target per load and consumer other than the reference:
// its median rate over pg_recvlogical's.
func (r drainReport) targets() []report.Target {
	ref := r.consumers[0]
	var ts []report.Target
	for _, d := range r.runs {
		base := r.rate(d.name(), ref.name)
		for _, c := range r.consumers[1:] {
			if c.noTarget {
				continue
			}
			res := r.result(d.name(), c.name)
			rate := stats.Summarize(res).Rate
			ratio := 0.0
			if base > 0 {
				ratio = math.Round(rate/base*100) / 100
			}
			t := report.Target{
				Name:     fmt.Sprintf("WAL drain, %s: %s / %s", d.subject(), c.name, ref.name),
				Goal:     fmt.Sprintf("≥ %.2f", c.goal),
				Measured: fmt.Sprintf("%.2f (%s vs %s rows/s)", ratio, stats.Group(rate), stats.Group(base)),
				Ratio:    ratio,
				Met:      ratio >= c.goal,
			}
			if res.Failed > 0 {
				all := r.opt.runs
				if !c.checksEveryRun {
					all++ // the check run
				}
				if len(res.Wall) == 0 {
					t.Measured = "no timed run received every row"
				}
				t.Met = false
				t.Note = fmt.Sprintf("%d of %d runs failed, the first: %s", res.Failed, all, res.Failure)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// series has one line per consumer and load shape: rows/s (median) by row
// size.
func (r drainReport) series() []report.Series {
	var ss []report.Series
	for _, shape := range []struct{ shape, chart, title string }{
		{"big", "drain-throughput", fmt.Sprintf("WAL drain: one %s-row transaction", thousands(r.opt.bigRows))},
		{"small", "drain-throughput-small", fmt.Sprintf("WAL drain: %s one-row transactions", thousands(r.opt.smallRows))},
	} {
		for _, c := range r.consumers {
			s := report.Series{Chart: shape.chart, Title: shape.title, XLabel: "row size (bytes)", YLabel: "rows/s (median)", LogX: true,
				Name: legendName(c.name), Caption: drainCaption, X: []float64{}, Y: []float64{}}
			for _, d := range r.runs {
				// A load on which every run failed has no point.
				if rate := r.rate(d.name(), c.name); d.shape == shape.shape && rate > 0 {
					s.X = append(s.X, float64(d.rowSize))
					s.Y = append(s.Y, math.Round(rate))
				}
			}
			ss = append(ss, s)
		}
	}
	return ss
}

// legendName is a consumer's name short enough for a chart's legend, which
// cuts names at 32 characters: the two serve rows would read alike.
func legendName(consumer string) string {
	switch consumer {
	case serveName:
		return "walcast serve (defaults)"
	case serveBigName:
		return "walcast serve, 256 MiB queue"
	}
	return consumer
}

// drainCaption is written under the drain charts.
var drainCaption = report.LoopbackCaption(runtime.NumCPU()) +
	" Every consumer is timed from its walsender taking the slot to its last row;" +
	" walcast serve's line includes its WebSocket subscriber, and the 256 MiB queue is not a default."

// result is what was measured of consumer on load.
func (r drainReport) result(load, consumer string) stats.Result {
	for _, res := range r.measured {
		if res.Load == load && res.Consumer == consumer {
			return res
		}
	}
	return stats.Result{Load: load, Consumer: consumer}
}

// rate is the median rows/s of consumer on load, 0 when no run succeeded.
func (r drainReport) rate(load, consumer string) float64 {
	return stats.Summarize(r.result(load, consumer)).Rate
}
