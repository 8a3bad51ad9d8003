package suite

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/chart"
)

// suiteReport is everything the summary shows about one suite run.
type suiteReport struct {
	Quick    bool
	Started  time.Time
	Total    time.Duration
	Runs     []workloadRun
	Results  []chart.ResultFile // every *.json in the directory, in suite order
	Charts   []chart.ChartFile  // the PNGs drawn from Results
	Reports  []string           // workloads with a <name>.md in the directory
	Problems []string           // results or charts that could not be read or drawn
}

// renderSummary is README.md of the results directory: how and where the
// suite ran, one table of every target, links to the reports and the charts.
func renderSummary(rep suiteReport) string {
	var b strings.Builder
	b.WriteString("# walcast benchmarks\n\n")
	if rep.Quick {
		b.WriteString("Quick suite (`go run -C bench . --quick`): smoke-run sizes. Its figures show that the workloads work; the full suite's are the ones to compare.\n\n")
	} else {
		b.WriteString("Full suite, written by `go run -C bench .`. The quick suite (`go run -C bench . --quick`) writes to quick/ instead.\n\n")
	}
	fmt.Fprintf(&b, "Started %s and took %s in all.\n\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"), formatDuration(rep.Total))

	b.WriteString("## Machine\n\n")
	machines := machineLines(rep.Results)
	if len(machines) == 0 {
		b.WriteString("No workload reported its machine.\n")
	}
	for _, m := range machines {
		fmt.Fprintf(&b, "- %s: %s\n", strings.Join(m.workloads, ", "), m.line)
	}

	b.WriteString("\n## Runs\n\n")
	b.WriteString(renderRunTable(rep))

	b.WriteString("\n## Targets\n\n")
	b.WriteString(renderTargetTable(rep))

	if len(rep.Problems) > 0 {
		b.WriteString("\n## Problems\n\n")
		for _, p := range rep.Problems {
			fmt.Fprintf(&b, "- %s\n", markdownCell(p))
		}
	}

	b.WriteString("\n## Reports\n\n")
	if len(rep.Reports) == 0 {
		b.WriteString("No workload wrote a report.\n")
	}
	for _, name := range rep.Reports {
		fmt.Fprintf(&b, "- [%s](%s.md)\n", name, name)
	}

	b.WriteString("\n## Charts\n")
	if len(rep.Charts) == 0 {
		b.WriteString("\nNo charts: no workload wrote chart series.\n")
	}
	for _, c := range rep.Charts {
		fmt.Fprintf(&b, "\n### %s\n\n![%s](%s.png)\n", c.Title, c.Title, c.Name)
	}
	return b.String()
}

// renderConsoleSummary is what the suite prints on stdout at the end.
func renderConsoleSummary(rep suiteReport) string {
	return renderRunTable(rep) + "\n" + renderTargetTable(rep) + fmt.Sprintf("\nTotal time: %s\n", formatDuration(rep.Total))
}

// renderRunTable says how each workload of the suite went and how long it took.
func renderRunTable(rep suiteReport) string {
	var b strings.Builder
	b.WriteString("| workload | result | time |\n|---|---|---|\n")
	for _, w := range rep.Runs {
		status := w.statusText()
		if w.Status == runSkipped {
			if f, ok := resultsOf(rep.Results, w.Name); ok {
				status += "; its results below are from " + writtenText(f.Written)
			}
		}
		took := "–"
		if w.Status == runOK || w.Status == runFailed {
			took = formatDuration(w.Duration)
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", w.Name, markdownCell(status), took)
	}
	return b.String()
}

// renderTargetTable lists every target of every results file, in suite
// order. A workload that failed this time gets one missed row, so that no
// table looks complete when a workload is missing.
func renderTargetTable(rep suiteReport) string {
	var b strings.Builder
	b.WriteString("| workload | target | goal | measured | met | note |\n|---|---|---|---|---|---|\n")
	met, total := 0, 0
	var names []string
	for _, w := range rep.Runs {
		names = append(names, w.Name)
	}
	for _, f := range rep.Results {
		if !slices.Contains(names, f.Workload) {
			names = append(names, f.Workload)
		}
	}
	for _, name := range names {
		for _, f := range rep.Results {
			if f.Workload != name {
				continue
			}
			for _, t := range f.Targets {
				mark := "✗"
				if t.Met {
					mark = "✓"
					met++
				}
				total++
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", f.Workload,
					markdownCell(t.Name), markdownCell(t.Goal), markdownCell(t.Measured), mark, markdownCell(t.Note))
			}
		}
		if i := slices.IndexFunc(rep.Runs, func(w workloadRun) bool { return w.Name == name }); i >= 0 && rep.Runs[i].Status == runFailed {
			total++
			fmt.Fprintf(&b, "| %s | all targets | – | no results: the workload failed | ✗ | %s |\n", name, markdownCell(rep.Runs[i].Reason))
		}
	}
	fmt.Fprintf(&b, "\n%d of %d targets met.\n", met, total)
	return b.String()
}

func (w workloadRun) statusText() string {
	switch w.Status {
	case runOK:
		return "ok"
	case runFailed:
		return "failed: " + w.Reason
	case runInterrupted:
		return "not run: the suite was interrupted"
	}
	return "not run (--only)"
}

// machineLine is one distinct Machine line and the workloads that reported it.
type machineLine struct {
	line      string
	workloads []string
}

// machineLines deduplicates the Machine lines of the results.
func machineLines(files []chart.ResultFile) []machineLine {
	var lines []machineLine
	for _, f := range files {
		line := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f.Machine), "Machine:"))
		if line == "" {
			continue
		}
		i := slices.IndexFunc(lines, func(m machineLine) bool { return m.line == line })
		if i < 0 {
			lines = append(lines, machineLine{line: line})
			i = len(lines) - 1
		}
		lines[i].workloads = append(lines[i].workloads, f.Workload)
	}
	return lines
}

func resultsOf(files []chart.ResultFile, workload string) (chart.ResultFile, bool) {
	i := slices.IndexFunc(files, func(f chart.ResultFile) bool { return f.Workload == workload })
	if i < 0 {
		return chart.ResultFile{}, false
	}
	return files[i], true
}

// markdownCell makes s safe inside a Markdown table cell.
func markdownCell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// formatDuration rounds d for people: 40ms, 1.4s, 12s, 3m7s.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// writtenText is when a workload's results were written, or says that
// the file does not record it (results written before it did).
func writtenText(t time.Time) string {
	if t.IsZero() {
		return "an earlier run (its file does not record when)"
	}
	return t.UTC().Format("2006-01-02 15:04 MST")
}
