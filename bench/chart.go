package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// resultFile is one workload's JSON results as found in a directory.
type resultFile struct {
	Results
	Path string
}

// chartFile is one PNG drawn into the results directory: Name.png.
type chartFile struct {
	Name, Title string
}

// chartGroup is every series drawn into one chart. The title, labels and
// axis scales come from the first series; a workload gives them the same
// on every series of a chart.
type chartGroup struct {
	chartFile
	XLabel, YLabel string
	LogX, LogY     bool
	Series         []Series
}

// chart draws the PNGs of the JSON results in a directory.
func chart(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	dir := fs.String("dir", defaultSuiteDir, "directory with the workloads' *.json results; the charts are written there as <chart>.png")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	files, err := collectResults(*dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no *.json results in %s: run the suite, or a workload with --json %s/NAME.json", *dir, *dir)
	}
	charts, err := drawCharts(*dir, files)
	for _, c := range charts {
		fmt.Println(filepath.Join(*dir, c.Name+".png"))
	}
	return err
}

// collectResults reads every *.json in dir, in suite order; workloads the
// suite does not know come last, by name.
func collectResults(dir string) ([]resultFile, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var files []resultFile
	for _, path := range paths {
		r, err := readResults(path)
		if err != nil {
			return files, fmt.Errorf("read results %s: %w; run its workload again or delete the file", path, err)
		}
		if r.Workload == "" {
			r.Workload = strings.TrimSuffix(filepath.Base(path), ".json")
		}
		files = append(files, resultFile{Results: r, Path: path})
	}
	slices.SortStableFunc(files, func(a, b resultFile) int {
		if d := suiteRank(a.Workload) - suiteRank(b.Workload); d != 0 {
			return d
		}
		return strings.Compare(a.Workload, b.Workload)
	})
	return files, nil
}

// suiteRank is the place of workload in the suite, after it when unknown.
func suiteRank(workload string) int {
	if i := slices.Index(suiteWorkloads, workload); i >= 0 {
		return i
	}
	return len(suiteWorkloads)
}

// chartGroups groups the series of files by Chart, in the order the charts
// first appear. Series whose chart name is not a plain file name are left
// out and reported in the error.
func chartGroups(files []resultFile) ([]chartGroup, error) {
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
					chartFile: chartFile{Name: s.Chart, Title: cmp.Or(s.Title, s.Chart)},
					XLabel:    s.XLabel, YLabel: s.YLabel, LogX: s.LogX, LogY: s.LogY,
				})
				i = len(groups) - 1
			}
			groups[i].Series = append(groups[i].Series, s)
		}
	}
	return groups, errors.Join(errs...)
}

// drawCharts draws dir/<chart>.png for every chart of files and returns
// the charts it drew; the error names each chart it could not draw.
func drawCharts(dir string, files []resultFile) ([]chartFile, error) {
	groups, err := chartGroups(files)
	errs := []error{err}
	var drawn []chartFile
	for _, g := range groups {
		if err := drawChart(g, filepath.Join(dir, g.Name+".png")); err != nil {
			errs = append(errs, fmt.Errorf("chart %s: %w", g.Name, err))
			continue
		}
		drawn = append(drawn, g.chartFile)
	}
	return drawn, errors.Join(errs...)
}
