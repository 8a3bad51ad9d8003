package chart

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/walcast/walcast/bench/report"
)

// TestDrawCharts draws the charts of the fixture results and checks each
// PNG: it decodes, has the chart size and is not blank.
func TestDrawCharts(t *testing.T) {
	files, err := CollectResults("testdata/results")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	charts, err := DrawCharts(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range charts {
		names = append(names, c.Name)
	}
	want := []string{"drain-throughput", "latency-distribution", "fanout-throughput", "fanout-latency"}
	if !slices.Equal(names, want) {
		t.Fatalf("charts %q, want %q (grouped by Chart, in suite order)", names, want)
	}
	for _, name := range names {
		img := decodePNG(t, filepath.Join(dir, name+".png"))
		if b := img.Bounds(); b.Dx() != chartWidthPx || b.Dy() != chartHeightPx {
			t.Errorf("%s: %d×%d pixels, want %d×%d", name, b.Dx(), b.Dy(), chartWidthPx, chartHeightPx)
		}
		if dark, colored := inkedPixels(img); dark < 1000 || colored < 500 {
			t.Errorf("%s: %d dark and %d colored pixels; want text, axes and colored lines", name, dark, colored)
		}
	}
}

func TestDrawChartsReportsBadSeries(t *testing.T) {
	files := []ResultFile{{Path: "x.json", Results: report.Results{Workload: "x", Series: []report.Series{
		{Chart: "../escape", Name: "a", X: []float64{1}, Y: []float64{1}},
		{Chart: "empty-log", LogX: true, Name: "b", X: []float64{0, -1}, Y: []float64{1, 2}},
		{Chart: "ok", Name: "c", X: []float64{1, 2}, Y: []float64{3, 4}},
	}}}}
	dir := t.TempDir()
	charts, err := DrawCharts(dir, files)
	if err == nil {
		t.Error("want an error for the chart name with a path and the chart with no points")
	}
	if len(charts) != 1 || charts[0].Name != "ok" {
		t.Errorf("charts %v, want only ok", charts)
	}
	if _, err := os.Stat(filepath.Join(dir, "ok.png")); err != nil {
		t.Error(err)
	}
}

func TestLogTicks(t *testing.T) {
	var labels []string
	for _, tk := range (logTicks{}).Ticks(0.35, 40) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if want := []string{"0.5", "1", "2", "5", "10", "20"}; !slices.Equal(labels, want) {
		t.Errorf("labels %q, want %q", labels, want)
	}
	for _, tc := range []struct {
		v    float64
		want string
	}{{120000, "120k"}, {1.5e6, "1.5M"}, {250, "250"}, {0.001, "0.001"}, {0.00001, "0.00001"}, {0, "0"}} {
		if got := formatTickValue(tc.v); got != tc.want {
			t.Errorf("formatTickValue(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// inkedPixels counts the dark (text, axes) and the colored (lines)
// pixels of img.
func inkedPixels(img image.Image) (dark, colored int) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			hi, lo := max(c.R, c.G, c.B), min(c.R, c.G, c.B)
			switch {
			case hi < 100:
				dark++
			case hi-lo > 60:
				colored++
			}
		}
	}
	return dark, colored
}

func TestReadableTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []string
	}{
		{0, 100, []string{"0", "20", "40", "60", "80", "100"}},
		{0, 70560, []string{"0", "10k", "20k", "30k", "40k", "50k", "60k", "70k"}},
		{0.5, 3.2, []string{"0.5", "1", "1.5", "2", "2.5", "3"}},
	} {
		var labels []string
		for _, tk := range (readableTicks{}).Ticks(tc.lo, tc.hi) {
			if tk.Label != "" {
				labels = append(labels, tk.Label)
			}
		}
		if !slices.Equal(labels, tc.want) {
			t.Errorf("Ticks(%v, %v) labels %q, want %q", tc.lo, tc.hi, labels, tc.want)
		}
	}
}
