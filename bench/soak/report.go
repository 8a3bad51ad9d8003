package soak

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// soakRun is what the soak measured.
type soakRun struct {
	samples    []sample
	lostSubs   int
	connect    time.Duration
	firstError string // of a presence rejoin
}

// thirds are the medians of a quantity over the first and the last third
// of the samples after the warm-up.
type thirds struct {
	first, last float64
	n           int // samples after the warm-up
}

// ratio is last over first; 0 when there is no figure.
func (t thirds) ratio() float64 {
	if t.n < 6 || t.first <= 0 {
		return 0
	}
	return t.last / t.first
}

// compareThirds splits the samples after warmup into thirds and takes the
// median of value over the first and the last.
func compareThirds(samples []sample, warmup time.Duration, value func(sample) float64) thirds {
	var vs []float64
	for _, s := range samples {
		if s.at > warmup {
			vs = append(vs, value(s))
		}
	}
	t := thirds{n: len(vs)}
	if t.n < 6 {
		return t
	}
	third := t.n / 3
	t.first, t.last = stats.Median(vs[:third]), stats.Median(vs[t.n-third:])
	return t
}

func (r soakRun) totals() (published, deliveries, cycles, errors int64) {
	for _, s := range r.samples {
		published += s.published
		deliveries += s.deliveries
		cycles += s.presenceCycles
		errors += s.errors
	}
	return
}

func rssOf(s sample) float64        { return s.rssMB }
func heapOf(s sample) float64       { return s.heapMB }
func goroutinesOf(s sample) float64 { return float64(s.goroutines) }

// soakResults is what --json writes: RSS flat (last third within 10% of
// the first), and the samples as charts.
func soakResults(opt soakOptions, run soakRun, env harness.RoomBenchEnv) report.Results {
	res := report.Results{Workload: "soak", Machine: env.Machine}
	_, deliveries, _, errors := run.totals()
	// RSS is the target. The heap in use is read at a random point of the
	// collector's sawtooth (it swings by GOGC% between collections), so
	// with a few samples a third its medians say little: the report gives
	// them as context, with the goroutines.
	for _, q := range []struct {
		what  string
		value func(sample) float64
	}{{"RSS", rssOf}} {
		t := compareThirds(run.samples, opt.warmup, q.value)
		target := report.Target{
			Name: fmt.Sprintf("Soak, %s of broadcast fan-out and presence churn: walcast %s, median of the last third / of the first third after %s warm-up",
				durationText(opt.duration), q.what, durationText(opt.warmup)),
			Goal:  "0.90–1.10",
			Ratio: t.ratio(),
		}
		switch {
		case t.ratio() == 0:
			target.Measured = fmt.Sprintf("no figure: %d samples after the warm-up, 6 needed", t.n)
		case deliveries == 0:
			target.Measured = "no figure: the subscribers received nothing"
		default:
			target.Measured = fmt.Sprintf("%.2f (%.1f → %.1f MB, %d samples)", t.ratio(), t.first, t.last, t.n)
			target.Met = math.Abs(t.ratio()-1) <= 0.10 && run.lostSubs == 0
		}
		var why []string
		if run.lostSubs > 0 {
			why = append(why, fmt.Sprintf("%d subscriber sockets ended during the soak", run.lostSubs))
		}
		if errors > 0 {
			why = append(why, fmt.Sprintf("%d presence rejoins failed (%s)", errors, run.firstError))
		}
		target.Note = strings.Join(why, "; ")
		res.Targets = append(res.Targets, target)
	}
	caption := report.LoopbackCaption(runtime.NumCPU()) + fmt.Sprintf(
		" walcast only, on its defaults. %s subscribers in %d rooms, %d broadcasts/s of %d bytes, %d presence clients of which %d/s rejoin. Samples in the first %s are warm-up, not compared.",
		stats.Group(float64(opt.subs)), opt.rooms, opt.rate, opt.payload, opt.presence, opt.churn, durationText(opt.warmup))
	memory := func(name string, value func(sample) float64) report.Series {
		s := report.Series{Chart: "soak-memory", Title: "Soak: walcast memory under a steady mixed load", XLabel: "minutes",
			YLabel: "MB", Name: name, Caption: caption}
		for _, x := range run.samples {
			s.X, s.Y = append(s.X, x.at.Minutes()), append(s.Y, value(x))
		}
		return s
	}
	g := memory("goroutines", goroutinesOf)
	g.Chart, g.Title, g.YLabel = "soak-goroutines", "Soak: walcast goroutines under a steady mixed load", "goroutines"
	if deliveries > 0 { // a soak without deliveries carried no load: nothing to draw
		res.Series = append(res.Series, memory("RSS", rssOf), memory("Go heap in use", heapOf), g)
	}
	return res
}

func durationText(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}

func writeSoakReport(w io.Writer, opt soakOptions, run soakRun, env harness.RoomBenchEnv) {
	fmt.Fprintf(w, "## Soak\n\n### Method\n\n")
	fmt.Fprintf(w, "One walcast serve on its defaults under a steady mixed load for %s: %s broadcast subscribers (vsn 2.0.0) spread over %d rooms, "+
		"one publisher per room sending binary broadcasts of %d bytes, %d msg/s over all rooms; %d presence clients joined with presence on, each tracking one presence, "+
		"of which %d a second (round robin) close their socket, reconnect, join and track again, so that presence state and diffs keep changing. "+
		"postgres_changes are not part of this load. The clients run in this process, from 127.0.0.2, with realtime-js's heartbeat. "+
		"Every %s the bench reads the server's VmRSS (/proc) and go_memstats_heap_inuse_bytes and go_goroutines from its /metrics. "+
		"Target: memory flat, the median of the last third of the samples after the %s warm-up within 10%% of the median of the first third, "+
		"for RSS; no subscriber socket lost. "+
		"Code: bench/soak (load.go the clients, soak.go the sampling, report.go the tables, targets and charts).\n\n",
		durationText(opt.duration), stats.Group(float64(opt.subs)), opt.rooms, opt.payload, opt.rate, opt.presence, opt.churn, opt.interval, durationText(opt.warmup))
	fmt.Fprintln(w, "| s | RSS MB | Go heap in use MB | goroutines | published/s | deliveries/s | presence rejoins/s | failed rejoins |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
	secs := opt.interval.Seconds()
	for _, s := range run.samples {
		at := fmt.Sprintf("%.0f", s.at.Seconds())
		if s.at <= opt.warmup {
			at += " (warm-up)"
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %d | %.0f | %s | %.1f | %d |\n", at, s.rssMB, s.heapMB, s.goroutines,
			float64(s.published)/secs, stats.Group(float64(s.deliveries)/secs), float64(s.presenceCycles)/secs, s.errors)
	}
	fmt.Fprintln(w)
	published, deliveries, cycles, errors := run.totals()
	g, h := compareThirds(run.samples, opt.warmup, goroutinesOf), compareThirds(run.samples, opt.warmup, heapOf)
	fmt.Fprintf(w, "In all: %d published, %s deliveries, %d presence rejoins, %d failed; %d of %d subscriber sockets lost; connecting took %.1f s. "+
		"Medians of the first and the last third after the warm-up, as context: goroutines %.0f → %.0f; Go heap in use %.1f → %.1f MB "+
		"(read at a random point of the collector's cycle, between the live heap and GOGC%% above it, so no target).\n\n",
		published, stats.Group(float64(deliveries)), cycles, errors, run.lostSubs, opt.subs, run.connect.Seconds(), g.first, g.last, h.first, h.last)
	report.WriteTargetTable(w, soakResults(opt, run, env).Targets)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%s %s.\n", env.Machine, env.Context)
}
