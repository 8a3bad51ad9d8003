package drain

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// runTimeout bounds one consumer's run.
const runTimeout = 10 * time.Minute

// consumer drains the copy slot of a load's WAL. With check it also
// verifies that it received every row of the load (a consumer whose check
// is free does so on every run).
type consumer struct {
	name string
	goal float64 // lowest acceptable rows/s ÷ pg_recvlogical's; 0 for the reference
	// noTarget: a labelled variant with non-default settings, shown in the
	// table but checked against no goal.
	noTarget bool
	// checksEveryRun: the consumer verifies every run, so it needs no
	// separate check run.
	checksEveryRun bool
	// drain runs on a fresh copy slot; ctx ends at the run timeout.
	drain func(ctx context.Context, d *drainRun, slot string, check bool) (runTimes, error)
}

// runTimes is what one run measured, every consumer the same way.
type runTimes struct {
	wall      time.Duration // the walsender acquiring the slot → the last row at the consumer
	cpu       time.Duration // the consumer's processes (see each consumer)
	walsender time.Duration // the walsender serving the slot, from acquiring it
}

// deliveryError is a run in which the consumer did not deliver every row of
// the load: a result to report, not a fault of the bench.
type deliveryError struct{ err error }

func (e deliveryError) Error() string { return e.err.Error() }
func (e deliveryError) Unwrap() error { return e.err }

// pluginOptions are the pgoutput options walcast sends (replication/
// stream.go): pg_recvlogical gets the same, so that both decode the same
// protocol with the same messages.
var pluginOptions = []string{"-o", "proto_version=2", "-o", "publication_names=walcast", "-o", "messages=true"}

// recvlogicalConsumer is the reference: pg_recvlogical up to the load's end
// LSN, its output read by the bench. Its check, on every run, is that it
// confirmed the end LSN on its slot. CPU: the process, start to exit.
func (b *drainBench) recvlogicalConsumer() consumer {
	return consumer{name: "pg_recvlogical", checksEveryRun: true, drain: func(ctx context.Context, d *drainRun, slot string, _ bool) (runTimes, error) {
		argv := append([]string{b.recvlogical, "-d", b.url, "-S", slot, "--start", "--no-loop"}, pluginOptions...)
		argv = append(argv, "-E", d.end, "-f", "-")
		t, err := b.runClient(ctx, slot, argv, nil)
		if err != nil {
			return t, err
		}
		var reached bool
		err = b.conn.QueryRow(ctx, "SELECT confirmed_flush_lsn >= $2::text::pg_lsn FROM pg_replication_slots WHERE slot_name = $1", slot, d.end).Scan(&reached)
		if err != nil {
			return t, fmt.Errorf("read slot %s: %w", slot, err)
		}
		if !reached {
			return t, fmt.Errorf("pg_recvlogical exited before confirming %s", d.end)
		}
		return t, nil
	}}
}

// tailConsumer is walcast tail printing the load's rows as JSON lines,
// which the bench reads (and writes to a file that checkLines reads when
// checked). CPU: the process, start to exit.
func (b *drainBench) tailConsumer() consumer {
	return consumer{name: "walcast tail", goal: 0.8, drain: func(ctx context.Context, d *drainRun, slot string, check bool) (runTimes, error) {
		argv := []string{b.walcast, "tail", "--database-url", b.url, "--slot", slot, "--count", strconv.Itoa(d.rows)}
		if !check {
			return b.runClient(ctx, slot, argv, nil)
		}
		path := filepath.Join(b.tmp, "tail.out")
		f, err := os.Create(path)
		if err != nil {
			return runTimes{}, err
		}
		defer os.Remove(path)
		t, err := b.runClient(ctx, slot, argv, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			if cerr := checkLines(path, d.load, d.firstID); cerr != nil {
				err = deliveryError{cerr}
			}
		}
		return t, err
	}}
}

// runClient runs argv, a client of slot, reads its stdout (copying it to
// copyTo when given) and times it as every consumer is timed: from its
// walsender acquiring the slot to the last byte of its output, which is
// the end of the last row. CPU is the process's, start to exit.
func (b *drainBench) runClient(ctx context.Context, slot string, argv []string, copyTo io.Writer) (runTimes, error) {
	watch, err := watchSlot(ctx, b.url, slot, 0)
	if err != nil {
		return runTimes{}, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = harness.ClientEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		watch.stop()
		return runTimes{}, err
	}
	if err := cmd.Start(); err != nil {
		watch.stop()
		return runTimes{}, fmt.Errorf("start %s: %w", argv[0], err)
	}
	lastData, rerr := readTimed(stdout, copyTo)
	werr := cmd.Wait()
	acquired, walsender, serr := watch.stop()
	switch {
	case werr != nil:
		return runTimes{}, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), werr, harness.LastLines(stderr.String(), 20))
	case rerr != nil:
		return runTimes{}, fmt.Errorf("read the output of %s: %w", argv[0], rerr)
	case serr != nil:
		return runTimes{}, serr
	case lastData.IsZero():
		return runTimes{}, deliveryError{fmt.Errorf("%s printed nothing", argv[0])}
	}
	return runTimes{wall: lastData.Sub(acquired), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), walsender: walsender}, nil
}

// readTimed reads r to its end, copying to copyTo when given, and returns
// when the last data arrived (zero when none did).
func readTimed(r io.Reader, copyTo io.Writer) (last time.Time, err error) {
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			last = time.Now()
			if copyTo != nil {
				if _, werr := copyTo.Write(buf[:n]); werr != nil {
					return last, werr
				}
			}
		}
		if err == io.EOF {
			return last, nil
		}
		if err != nil {
			return last, err
		}
	}
}

// checkLines verifies that path holds exactly the changes of l, one JSON
// line each: rows changes of type l.op to public.l.table, with ids firstID
// to firstID+rows-1 in order (the id of record, or of old_record for a
// DELETE, which has no record).
func checkLines(path string, l load, firstID int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		var ch struct {
			Schema, Table, Type string
			Record              *struct{ ID int64 }
			OldRecord           *struct{ ID int64 } `json:"old_record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ch); err != nil {
			return fmt.Errorf("line %d: %w", n+1, err)
		}
		row := ch.Record
		if l.op == "DELETE" {
			row = ch.OldRecord
		}
		want := firstID + int64(n)
		if ch.Schema != "public" || ch.Table != l.table || ch.Type != l.op || row == nil || row.ID != want {
			id := "no id"
			if row != nil {
				id = fmt.Sprintf("id %d", row.ID)
			}
			return fmt.Errorf("line %d: got %s %s.%s %s, want %s public.%s id %d", n+1, ch.Type, ch.Schema, ch.Table, id, l.op, l.table, want)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n != l.rows {
		return fmt.Errorf("printed %d lines, want %d", n, l.rows)
	}
	return nil
}
