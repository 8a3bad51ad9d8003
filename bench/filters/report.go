package filters

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// filtersGoal is the target: rows/s with the most subscriptions at least
// this fraction of rows/s with one.
const filtersGoal = 0.8

// filtersSize is every run of one subscription count.
type filtersSize struct {
	subs, conns     int
	runs            []filtersRow
	rate            float64 // median rows/s of the runs with deliveries; 0: none had any
	cpuPer1k        float64 // median server CPU-s per 1,000 rows
	missing         int64
	misrouted, dups int64
	offCount        int
	lostConns, slow int
	connErr         error
}

func summarizeFilters(opt filtersOptions, rows []filtersRow) []*filtersSize {
	var out []*filtersSize
	for _, n := range opt.subs {
		s := &filtersSize{subs: n}
		var rates, cpus []float64
		for _, r := range rows {
			if r.subs != n {
				continue
			}
			s.runs = append(s.runs, r)
			s.conns = r.conns
			if r.measured() {
				rates = append(rates, r.rate())
			}
			cpus = append(cpus, r.serverCPU.Seconds()*1000/float64(max(r.rows, 1)))
			s.missing += int64(r.rows) - r.delivered
			s.misrouted += r.misrouted
			s.dups += r.dups
			s.offCount += r.offCount
			s.lostConns += r.lostConns
			s.slow += r.slow
			if s.connErr == nil {
				s.connErr = r.connErr
			}
		}
		if len(s.runs) > 0 {
			s.rate, s.cpuPer1k = medianFloat(rates), medianFloat(cpus)
			out = append(out, s)
		}
	}
	return out
}

// medianFloat returns the middle value (the mean of the two middle ones
// for an even count), or 0 for none.
func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// filtersTarget compares the largest subscription count with one.
func filtersTarget(sizes []*filtersSize) report.Target {
	t := report.Target{Name: "Filter index: rows/s through 100,000 eq subscriptions on one table ÷ rows/s through 1", Goal: fmt.Sprintf("≥ %.2f", filtersGoal)}
	var one, many *filtersSize
	for _, s := range sizes {
		switch s.subs {
		case 1:
			one = s
		case 100_000:
			many = s
		}
	}
	if one == nil || many == nil {
		t.Measured = "not run: --subs of this run does not include both 1 and 100000"
		return t
	}
	if one.rate <= 0 || many.rate <= 0 {
		t.Measured = "no figure: no deliveries with " + subscriptions(one.subs)
		if many.rate <= 0 {
			t.Measured = "no figure: no deliveries with " + subscriptions(many.subs)
		}
		t.Note = fmt.Sprintf("%d connections lost (first: %v)", many.lostConns+one.lostConns, cmp.Or(many.connErr, one.connErr))
		return t
	}
	t.Ratio = many.rate / one.rate
	t.Measured = fmt.Sprintf("%.2f (%s vs %s rows/s, medians of %d runs)", t.Ratio, stats.Group(many.rate), stats.Group(one.rate), len(many.runs))
	t.Met = t.Ratio >= filtersGoal && many.missing == 0 && many.misrouted == 0 && many.dups == 0 && many.offCount == 0 && one.missing == 0
	var notes []string
	if many.missing > 0 || many.misrouted > 0 || many.dups > 0 || many.offCount > 0 {
		notes = append(notes, fmt.Sprintf("100,000 subscriptions: %d deliveries missing, %d misrouted, %d duplicates, %d subscriptions off their count",
			many.missing, many.misrouted, many.dups, many.offCount))
	}
	t.Note = strings.Join(notes, "; ")
	return t
}

// subscriptions is "1 subscription" or "N subscriptions".
func subscriptions(n int) string {
	if n == 1 {
		return "1 subscription"
	}
	return stats.Group(float64(n)) + " subscriptions"
}

func writeFiltersReport(w io.Writer, opt filtersOptions, rows []filtersRow, machine string) {
	sizes := summarizeFilters(opt, rows)
	fmt.Fprintf(w, "## Filter index throughput\n\n%s\n\n", machine)
	fmt.Fprintf(w, "### Method\n\nTable `t (id bigserial pk, k int, sub int, sent_at timestamptz, payload text)`, ~100-byte rows, publication `walcast` FOR ALL TABLES. "+
		"For each subscription count N a fresh `walcast serve` (own process, fresh slot) gets N channels, each with one INSERT binding on `public.t` "+
		"filtered by `sub=eq.<v>` for a distinct v in 0…N−1, on WebSocket clients in the bench process: up to %d channels per connection "+
		"(walcast serve's default --max-channels), so N = 1 is 1 connection × 1 channel, 1,000 is 10 × 100 and 100,000 is 1,000 × 100. "+
		"Once every channel is live, one connection inserts a burst of %s rows in transactions of %s (INSERT … SELECT generate_series); row g carries sub = g mod %d, "+
		"so each row matches exactly one of the first %[4]d subscriptions and the other N − %[4]d never match: every N gets the same rows, deliveries, channels and socket, "+
		"and what changes is only the size of the index each row is looked up in (and N − %[4]d idle subscriptions on idle connections). "+
		"rows/s = rows delivered ÷ (last delivery − commit of the burst's first transaction), median of %d runs; the subscription counts alternate in every run. "+
		"Each client checks that a row arrives on the channel of its sub value (else misrouted) and, at the end, that no row id came twice and each subscription got exactly its share. "+
		"What has not arrived %.0f s after the inserts (or after 5 s without progress) counts as missing. "+
		"Server CPU: walcast serve's user + system time from before the burst to the last delivery, per 1,000 rows. "+

		"The server runs with --queue-bytes 256 MiB: the burst commits faster than one client reads it, and with the default 1 MiB walcast closes that client as a slow consumer, by design. "+
		"Joining runs walcast's binding check (catalog queries) per channel, so the join time is walcast's, not the bench's. "+
		"Every connection sends realtime-js's heartbeat every 25 s from its dial on, so none idles into the server's 60 s timeout while the others join. "+
		"A burst of which nothing arrived has no rate (—), no point on the chart and no ratio. "+
		"Code: bench/filters (phase.go runs a burst, client.go the channels, report.go the target) and bench/pgchanges (the connections).\n\n",
		opt.perConn, stats.Group(float64(opt.rows)), stats.Group(float64(opt.txRows)), opt.hot, opt.runs, filtersDrainWait.Seconds())

	fmt.Fprintln(w, "| subscriptions | connections × channels | runs | rows/s (median) | min–max rows/s | rows/s by run | walcast CPU-s per 1,000 rows (median) | walcast RSS MB | join all s (median) | joins/s | burst inserted in s (median) | missing | misrouted | duplicates | subscriptions off their count |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range sizes {
		var rates []float64
		var byRun []string
		var joins, inserts []time.Duration
		var rss float64
		for _, r := range s.runs {
			if r.measured() {
				rates = append(rates, r.rate())
			}
			byRun = append(byRun, r.rateText())
			joins, inserts = append(joins, r.connect), append(inserts, r.insert)
			rss = max(rss, r.rssMB)
		}
		join := stats.Median(joins)
		median, spread := "—", "—"
		if len(rates) > 0 {
			median, spread = stats.Group(s.rate), stats.Group(slices.Min(rates))+"–"+stats.Group(slices.Max(rates))
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %.3f | %.0f | %.1f | %s | %.3f | %s | %s | %s | %d |\n",
			stats.Group(float64(s.subs)), shape(s.subs, opt.perConn), len(s.runs), median, spread,
			strings.Join(byRun, ", "), s.cpuPer1k, rss, join.Seconds(), stats.Group(float64(s.subs)/max(join.Seconds(), 0.001)), stats.Median(inserts).Seconds(),
			stats.Group(float64(s.missing)), stats.Group(float64(s.misrouted)), stats.Group(float64(s.dups)), s.offCount)
	}

	fmt.Fprintf(w, "\n### Target\n\n")
	report.WriteTargetTable(w, []report.Target{filtersTarget(sizes)})

	var notes []string
	for _, s := range sizes {
		if s.lostConns > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d connections lost (first: %v); %d slow-consumer closes in the server log.",
				subscriptions(s.subs), s.lostConns, s.connErr, s.slow))
		} else if s.slow > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d slow-consumer closes in the server log.", subscriptions(s.subs), s.slow))
		}
		for _, r := range s.runs {
			if r.other > harness.NoisyCores {
				notes = append(notes, fmt.Sprintf("%s, run %d: other processes used %.2f cores during the burst.", subscriptions(s.subs), r.run, r.other))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nNotes:\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

// shape is how n channels sit on connections of perConn channels.
func shape(n, perConn int) string {
	conns := (n + perConn - 1) / perConn
	if n%perConn == 0 || conns == 1 {
		return fmt.Sprintf("%s × %d", stats.Group(float64(conns)), min(n, perConn))
	}
	return fmt.Sprintf("%s × %d (the last %d)", stats.Group(float64(conns)), perConn, n%perConn)
}

// filtersResults is what --json writes: the target and rows/s against the
// subscription count.
func filtersResults(opt filtersOptions, rows []filtersRow, machine string) report.Results {
	sizes := summarizeFilters(opt, rows)
	s := report.Series{Chart: "filter-scaling", Title: "Rows/s through the filter index by eq subscriptions on one table",
		XLabel: "eq subscriptions on the table", YLabel: "rows/s (each row matches one subscription)", LogX: true, Name: "walcast"}
	slices.SortFunc(sizes, func(a, b *filtersSize) int { return a.subs - b.subs })
	for _, z := range sizes {
		if z.rate <= 0 {
			continue // no deliveries: no point
		}
		s.X = append(s.X, float64(z.subs))
		s.Y = append(s.Y, z.rate)
	}
	return report.Results{Workload: "filters", Machine: machine, Targets: []report.Target{filtersTarget(sizes)}, Series: []report.Series{s}}
}
