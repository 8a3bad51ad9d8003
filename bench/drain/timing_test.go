package drain

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/walcast/walcast/bench/stats"
)

// TestReadTimed: the time of the last data is taken when data arrives, not
// at EOF, and what is read is copied whole.
func TestReadTimed(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("row 1\n"))
		pw.Write([]byte("row 2\n"))
		time.Sleep(50 * time.Millisecond) // the process lingering after its last row
		pw.Close()
	}()
	var copied bytes.Buffer
	before := time.Now()
	last, err := readTimed(pr, &copied)
	end := time.Now()
	if err != nil || copied.String() != "row 1\nrow 2\n" {
		t.Fatalf("readTimed: %v, copied %q", err, copied.String())
	}
	if last.Before(before) || end.Sub(last) < 40*time.Millisecond {
		t.Errorf("last data at %v after the start, EOF %v after it: want the last data, not EOF", last.Sub(before), end.Sub(last))
	}
	if last, err := readTimed(strings.NewReader(""), nil); err != nil || !last.IsZero() {
		t.Errorf("no output: last %v, err %v; want zero, nil", last, err)
	}
	if _, err := readTimed(iotest.ErrReader(io.ErrUnexpectedEOF), nil); err != io.ErrUnexpectedEOF {
		t.Errorf("read error: got %v", err)
	}
}

// TestTargetsSkipLabelledVariant: the big-queue serve row is in the table
// but has no target; the default serve row has one.
func TestTargetsSkipLabelledVariant(t *testing.T) {
	b := &drainBench{}
	consumers := []consumer{b.recvlogicalConsumer(), b.tailConsumer(), b.serveConsumer(false), b.serveConsumer(true)}
	d := &drainRun{load: load{shape: "big", rowSize: 100, rows: 1000, title: "1k-row transaction"}}
	s := time.Second
	var measured []stats.Result
	for _, c := range consumers {
		measured = append(measured, stats.Result{Load: d.name(), Consumer: c.name, Rows: 1000, Wall: []time.Duration{s}, CPU: []time.Duration{s}, Walsender: []time.Duration{s}})
	}
	r := drainReport{opt: drainOptions{runs: 1}, runs: []*drainRun{d}, measured: measured, consumers: consumers}
	var names []string
	for _, t := range r.targets() {
		names = append(names, t.Name)
	}
	if len(names) != 2 || !strings.HasSuffix(names[1], serveName+" / pg_recvlogical") {
		t.Errorf("targets %q, want walcast tail's and the default serve's", names)
	}
	var md bytes.Buffer
	if err := r.write(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), serveBigName) || !strings.Contains(md.String(), "### Method") {
		t.Errorf("report lacks the labelled row or the method:\n%s", md.String())
	}
}
