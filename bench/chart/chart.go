package chart

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/report"
)

// ResultFile is one workload's JSON results as found in a directory.
type ResultFile struct {
	report.Results
	Path string
}

// ChartFile is one PNG drawn into the results directory: Name.png.
type ChartFile struct {
	Name, Title string
}

// chartGroup is every series drawn into one chart. The title, labels and
// axis scales come from the first series; a workload gives them the same
// on every series of a chart.
type chartGroup struct {
	ChartFile
	XLabel, YLabel string
	LogX, LogY     bool
	Captions       []string // the distinct captions of the series, written under the plot
	Series         []report.Series
}

// chart draws the PNGs of the JSON results in a directory.
func Run(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory with the workloads' *.json results (default: the repository's "+report.DefaultSuiteDir+"); the charts are written there as <chart>.png")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		*dir = cli.RepoPath(report.DefaultSuiteDir)
	}
	files, err := CollectResults(*dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no *.json results in %s: run the suite, or a workload with --json %s/NAME.json", *dir, *dir)
	}
	charts, err := DrawCharts(*dir, files)
	for _, c := range charts {
		fmt.Println(filepath.Join(*dir, c.Name+".png"))
	}
	return err
}

// CollectResults reads every *.json in dir, in suite order; workloads the
// suite does not know come last, by name.
func CollectResults(dir string) ([]ResultFile, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var files []ResultFile
	for _, path := range paths {
		r, err := report.ReadResults(path)
		if err != nil {
			return files, fmt.Errorf("read results %s: %w; run its workload again or delete the file", path, err)
		}
		if r.Workload == "" {
			r.Workload = strings.TrimSuffix(filepath.Base(path), ".json")
		}
		files = append(files, ResultFile{Results: r, Path: path})
	}
	slices.SortStableFunc(files, func(a, b ResultFile) int {
		if d := suiteRank(a.Workload) - suiteRank(b.Workload); d != 0 {
			return d
		}
		return strings.Compare(a.Workload, b.Workload)
	})
	return files, nil
}

// suiteRank is the place of workload in the suite, after it when unknown.
func suiteRank(workload string) int {
	if i := slices.Index(report.SuiteWorkloads, workload); i >= 0 {
		return i
	}
	return len(report.SuiteWorkloads)
}

// ChartGroups groups the series of files by Chart, in the order the charts
// first appear. Series whose chart name is not a plain file name are left
// out and reported in the error.
func ChartGroups(files []ResultFile) ([]chartGroup, error) {
	var groups []chartGroup
	var errs []error
	for _, f := range files {
		for _, s := range f.Series {
			if s.Chart == "" || s.Chart != filepath.Base(s.Chart) || strings.HasPrefix(s.Chart, ".") {
				errs = append(errs, fmt.Errorf("%s: series %q has chart name %q, which is not a file name", f.Path, s.Name, s.Chart))
				continue
			}
			i := slices.IndexFunc(groups, func(g chartGroup) bool { return g.Name == s.Chart })
			if i < 0 {
				groups = append(groups, chartGroup{
					ChartFile: ChartFile{Name: s.Chart, Title: cmp.Or(s.Title, s.Chart)},
					XLabel:    s.XLabel, YLabel: s.YLabel, LogX: s.LogX, LogY: s.LogY,
				})
				i = len(groups) - 1
			}
			groups[i].Series = append(groups[i].Series, s)
			if c := strings.TrimSpace(s.Caption); c != "" && !slices.Contains(groups[i].Captions, c) {
				groups[i].Captions = append(groups[i].Captions, c)
			}
		}
	}
	return groups, errors.Join(errs...)
}

// DrawCharts draws dir/<chart>.png for every chart of files and returns
// the charts it drew; the error names each chart it could not draw.
func DrawCharts(dir string, files []ResultFile) ([]ChartFile, error) {
	groups, err := ChartGroups(files)
	errs := []error{err}
	var drawn []ChartFile
	for _, g := range groups {
		if err := drawChart(g, filepath.Join(dir, g.Name+".png")); err != nil {
			errs = append(errs, fmt.Errorf("chart %s: %w", g.Name, err))
			continue
		}
		drawn = append(drawn, g.ChartFile)
	}
	return drawn, errors.Join(errs...)
}
