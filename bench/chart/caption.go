package chart

import (
	"strings"

	"image/color"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// captionLines wraps the captions into lines no wider than width in style,
// each caption starting a line of its own; a word wider than width gets a
// line to itself rather than being cut.
func captionLines(captions []string, style draw.TextStyle, width vg.Length) []string {
	var lines []string
	for _, c := range captions {
		line := ""
		for _, word := range strings.Fields(c) {
			next := word
			if line != "" {
				next = line + " " + word
			}
			if line != "" && style.Width(next) > width {
				lines = append(lines, line)
				next = word
			}
			line = next
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// captionStyle is the text of the captions: smaller than the tick labels
// and dark grey, so that it reads as a note rather than as data.
func captionStyle(base draw.TextStyle) draw.TextStyle {
	s := base
	s.Font.Size = vg.Points(9.5)
	s.Color = color.Gray{Y: 70}
	s.XAlign, s.YAlign = draw.XLeft, draw.YBottom
	return s
}

// drawCaptions writes lines from the bottom of c upwards, so that the
// last line sits on the bottom edge, and returns the height they took.
func drawCaptions(c draw.Canvas, style draw.TextStyle, lines []string) vg.Length {
	lineHeight := style.Height("Ag") * 1.2
	for i := range lines {
		y := c.Min.Y + lineHeight*vg.Length(len(lines)-1-i)
		c.FillText(style, vg.Point{X: c.Min.X, Y: y}, lines[i])
	}
	return lineHeight * vg.Length(len(lines))
}
