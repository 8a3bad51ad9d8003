package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"

	"github.com/walcast/walcast/bench/report"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The charts are 900×500 pixels at 96 dots per inch: readable on a page
// of docs without scaling.
const (
	chartWidthPx, chartHeightPx = 900, 500
	chartDPI                    = 96
)

// pointShapes are filled, so the points of a line stand out at this size;
// the outlined glyphs of plotutil.Shape are hard to see.
var pointShapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}

// drawChart draws the series of g as lines with points into a PNG at path.
// The legend goes in a column right of the plot so it never hides a line.
func drawChart(g chartGroup, path string) error {
	p := plot.New()
	p.Title.Text = g.Title
	p.Title.TextStyle.Font.Size = vg.Points(15)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text, p.Y.Label.Text = g.XLabel, g.YLabel
	p.X.Label.TextStyle.Font.Size = vg.Points(12)
	p.Y.Label.TextStyle.Font.Size = vg.Points(12)
	p.X.Tick.Label.Font.Size = vg.Points(10)
	p.Y.Tick.Label.Font.Size = vg.Points(10)
	grid := plotter.NewGrid()
	gridColor := color.Gray{Y: 225}
	grid.Vertical.Color, grid.Horizontal.Color = gridColor, gridColor
	grid.Vertical.Width, grid.Horizontal.Width = vg.Points(0.5), vg.Points(0.5)
	p.Add(grid)

	legend := plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.TextStyle.Font.Size = vg.Points(11)
	legend.Padding = vg.Points(4)
	drawn := 0
	for i, s := range g.Series {
		pts := chartPoints(s, g.LogX, g.LogY)
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("series %q: %w", s.Name, err)
		}
		c := plotutil.DarkColors[i%len(plotutil.DarkColors)]
		line.Color, line.Width = c, vg.Points(2)
		points.Color, points.Shape, points.Radius = c, pointShapes[i%len(pointShapes)], vg.Points(3.5)
		p.Add(line, points)
		legend.Add(report.TruncateText(s.Name, 32), line, points)
		drawn++
	}
	if drawn == 0 {
		return errors.New("no points to draw (a log axis leaves out values ≤ 0)")
	}
	setAxis(&p.X, g.LogX, false)
	setAxis(&p.Y, g.LogY, true)

	w := vg.Length(chartWidthPx) * vg.Inch / chartDPI
	h := vg.Length(chartHeightPx) * vg.Inch / chartDPI
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(chartDPI))
	c := draw.Crop(draw.New(img), vg.Points(6), -vg.Points(10), vg.Points(4), -vg.Points(6))
	// Captions go under the plot across the whole width, and the plot
	// gives up their height.
	style := captionStyle(p.X.Tick.Label)
	captionHeight := drawCaptions(c, style, captionLines(g.Captions, style, c.Size().X))
	if captionHeight > 0 {
		captionHeight += vg.Points(6)
	}
	legendWidth := legendColumnWidth(legend, g.Series, w)
	p.Draw(draw.Crop(c, 0, -legendWidth, captionHeight, 0))
	titleHeight := p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
	legend.Draw(draw.Crop(c, c.Size().X-legendWidth+vg.Points(12), 0, 0, -titleHeight-vg.Points(8)))

	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("encode PNG: %w", err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write chart: %w", err)
	}
	return nil
}

// chartPoints are the finite points of s; on a log axis only the positive
// ones, since log(0) has no place on it.
func chartPoints(s report.Series, logX, logY bool) plotter.XYs {
	var pts plotter.XYs
	for i := range min(len(s.X), len(s.Y)) {
		x, y := s.X[i], s.Y[i]
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) || logX && x <= 0 || logY && y <= 0 {
			continue
		}
		pts = append(pts, plotter.XY{X: x, Y: y})
	}
	return pts
}

// setAxis pads the axis range around the data, so points at the edges are
// drawn whole, and sets a log scale when asked. A linear axis from zero
// starts at zero when the data has no negative values, so that the heights
// of the lines (rates, latencies) compare honestly.
func setAxis(a *plot.Axis, log, fromZero bool) {
	if log {
		a.Scale = plot.LogScale{}
		a.Tick.Marker = logTicks{}
		lo, hi := a.Min/1.25, a.Max*1.25
		if a.Min == a.Max {
			lo, hi = a.Min/2, a.Max*2
		}
		a.Min, a.Max = lo, hi
		return
	}
	a.Tick.Marker = readableTicks{}
	if fromZero && a.Min >= 0 {
		a.Min = 0
	}
	pad := (a.Max - a.Min) * 0.05
	if pad == 0 {
		pad = math.Max(math.Abs(a.Max)*0.1, 1)
	}
	lo := a.Min - pad
	if a.Min >= 0 && lo < 0 {
		lo = 0
	}
	a.Min, a.Max = lo, a.Max+pad
}

// legendColumnWidth is the width of the legend column: its longest entry,
// but at most 35% of the chart.
func legendColumnWidth(l plot.Legend, series []report.Series, chartWidth vg.Length) vg.Length {
	var widest vg.Length
	for _, s := range series {
		widest = max(widest, l.TextStyle.Rectangle(report.TruncateText(s.Name, 32)).Size().X)
	}
	return min(widest+l.ThumbnailWidth+vg.Points(24), chartWidth*35/100)
}
