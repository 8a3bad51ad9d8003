package report

import (
	"fmt"
	"io"
	"strings"
)

// WriteTargetTable writes targets as a Markdown table.
func WriteTargetTable(w io.Writer, targets []Target) {
	fmt.Fprintln(w, "| target | goal | measured | met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, t := range targets {
		met := "yes"
		switch {
		case strings.HasPrefix(t.Measured, "not run"):
			met = "—"
		case !t.Met:
			met = "**no**"
		}
		if t.Note != "" {
			met += " (" + t.Note + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Name, t.Goal, t.Measured, met)
	}
}
