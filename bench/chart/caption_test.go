package chart

import (
	"image"
	"image/color"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/walcast/walcast/bench/report"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

func TestCaptionLinesWrap(t *testing.T) {
	style := captionStyle(plot.New().X.Tick.Label)
	long := strings.Repeat("loopback shared cores ", 20)
	lines := captionLines([]string{long, "Centrifugo on defaults."}, style, vg.Points(300))
	if len(lines) < 3 {
		t.Fatalf("%d lines, want the long caption wrapped over several and the short one on its own: %q", len(lines), lines)
	}
	for _, l := range lines {
		if style.Width(l) > vg.Points(300) {
			t.Errorf("line %q is %v wide, over 300 pt", l, style.Width(l))
		}
	}
	if lines[len(lines)-1] != "Centrifugo on defaults." {
		t.Errorf("last line %q, want the second caption starting a line of its own", lines[len(lines)-1])
	}
	if got := strings.Join(lines[:len(lines)-1], " "); got != strings.TrimSpace(long) {
		t.Errorf("wrapped lines lost or changed words: %q", got)
	}
	if got := captionLines(nil, style, vg.Points(300)); got != nil {
		t.Errorf("no captions gave lines %q", got)
	}
}

// TestChartGroupsCaptions: a chart carries every distinct caption of its
// series once, in order, and only its own.
func TestChartGroupsCaptions(t *testing.T) {
	files := []ResultFile{{Path: "x.json", Results: report.Results{Workload: "x", Series: []report.Series{
		{Chart: "a", Name: "walcast", Caption: "loopback", X: []float64{1}, Y: []float64{1}},
		{Chart: "a", Name: "peer", Caption: "loopback", X: []float64{1}, Y: []float64{1}},
		{Chart: "a", Name: "peer, tuned", Caption: "peer tuned: small buffers", X: []float64{1}, Y: []float64{1}},
		{Chart: "b", Name: "walcast", X: []float64{1}, Y: []float64{1}},
	}}}}
	groups, err := ChartGroups(files)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"loopback", "peer tuned: small buffers"}; !slices.Equal(groups[0].Captions, want) {
		t.Errorf("chart a captions %q, want %q", groups[0].Captions, want)
	}
	if len(groups[1].Captions) != 0 {
		t.Errorf("chart b captions %q, want none", groups[1].Captions)
	}
}

// TestDrawChartWritesCaption: the caption is written in the band under the
// plot, which is blank without one.
func TestDrawChartWritesCaption(t *testing.T) {
	g := chartGroup{ChartFile: ChartFile{Name: "c", Title: "t"}, XLabel: "x", YLabel: "y",
		Series: []report.Series{{Name: "s", X: []float64{1, 2, 3}, Y: []float64{1, 4, 9}}}}
	dir := t.TempDir()
	plain, captioned := filepath.Join(dir, "plain.png"), filepath.Join(dir, "captioned.png")
	if err := drawChart(g, plain); err != nil {
		t.Fatal(err)
	}
	g.Captions = []string{"Loopback: server, load clients and Postgres share the same 2 cores."}
	if err := drawChart(g, captioned); err != nil {
		t.Fatal(err)
	}
	band := func(img image.Image) int { // dark pixels in the bottom 12 rows
		n := 0
		b := img.Bounds()
		for y := b.Max.Y - 12; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if c := color.GrayModel.Convert(img.At(x, y)).(color.Gray); c.Y < 160 {
					n++
				}
			}
		}
		return n
	}
	if n := band(decodePNG(t, plain)); n > 20 {
		t.Errorf("without a caption the bottom band has %d dark pixels, want it blank", n)
	}
	if n := band(decodePNG(t, captioned)); n < 100 {
		t.Errorf("with a caption the bottom band has %d dark pixels, want text", n)
	}
}
