package drain

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// consumer drains the copy slot of a load's WAL and returns its wall time
// and CPU time. With check it also verifies that it received every row of
// the load (a consumer whose check is free does so on every run).
type consumer struct {
	name string
	goal float64 // lowest acceptable rows/s ÷ pg_recvlogical's; 0 for the reference
	// checksEveryRun: the consumer verifies every run, so it needs no
	// separate check run.
	checksEveryRun bool
	// drain runs on a fresh copy slot; ctx ends at the run timeout.
	drain func(ctx context.Context, d *drainRun, slot string, check bool) (wall, cpu time.Duration, err error)
}

// deliveryError is a run in which the consumer did not deliver every row of
// the load: a result to report, not a fault of the bench.
type deliveryError struct{ err error }

func (e deliveryError) Error() string { return e.err.Error() }
func (e deliveryError) Unwrap() error { return e.err }

// recvlogicalConsumer is the reference: pg_recvlogical up to the load's end
// LSN, output to the null device. Its check, on every run, is that it
// confirmed the end LSN on its slot.
func (b *drainBench) recvlogicalConsumer() consumer {
	return consumer{name: "pg_recvlogical", checksEveryRun: true, drain: func(ctx context.Context, d *drainRun, slot string, _ bool) (wall, cpu time.Duration, err error) {
		argv := []string{b.recvlogical, "-d", b.url, "-S", slot, "--start", "--no-loop",
			"-o", "proto_version=1", "-o", "publication_names=walcast", "-E", d.end, "-f", os.DevNull}
		if wall, cpu, err = runClient(ctx, argv, nil); err != nil {
			return 0, 0, err
		}
		var reached bool
		err = b.conn.QueryRow(ctx, "SELECT confirmed_flush_lsn >= $2::text::pg_lsn FROM pg_replication_slots WHERE slot_name = $1", slot, d.end).Scan(&reached)
		if err != nil {
			return 0, 0, fmt.Errorf("read slot %s: %w", slot, err)
		}
		if !reached {
			return 0, 0, fmt.Errorf("pg_recvlogical exited before confirming %s", d.end)
		}
		return wall, cpu, nil
	}}
}

// tailConsumer is walcast tail printing the load's rows as JSON lines: to
// the null device when timed, to a file that checkLines reads when checked.
func (b *drainBench) tailConsumer() consumer {
	return consumer{name: "walcast tail", goal: 0.8, drain: func(ctx context.Context, d *drainRun, slot string, check bool) (wall, cpu time.Duration, err error) {
		argv := []string{b.walcast, "tail", "--database-url", b.url, "--slot", slot, "--count", strconv.Itoa(d.rows)}
		if !check {
			return runClient(ctx, argv, nil)
		}
		path := filepath.Join(b.tmp, "tail.out")
		f, err := os.Create(path)
		if err != nil {
			return 0, 0, err
		}
		defer os.Remove(path)
		wall, cpu, err = runClient(ctx, argv, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			if cerr := checkLines(path, d.rows, d.firstID); cerr != nil {
				err = deliveryError{cerr}
			}
		}
		return wall, cpu, err
	}}
}

// runClient runs argv with its stdout to out (nil: the null device) and
// returns the process's wall time, start to exit, and CPU time.
func runClient(ctx context.Context, argv []string, out *os.File) (wall, cpu time.Duration, err error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = harness.ClientEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out == nil {
		if out, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
			return 0, 0, err
		}
		defer out.Close()
	}
	cmd.Stdout = out
	began := time.Now()
	err = cmd.Run()
	wall = time.Since(began)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, harness.LastLines(stderr.String(), 20))
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// checkLines verifies that path holds exactly rows JSON lines, inserts into
// public.items with ids firstID to firstID+rows-1 in order.
func checkLines(path string, rows int, firstID int64) error {
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
			Record              struct{ ID int64 }
		}
		if err := json.Unmarshal(sc.Bytes(), &ch); err != nil {
			return fmt.Errorf("line %d: %w", n+1, err)
		}
		if want := firstID + int64(n); ch.Schema != "public" || ch.Table != "items" || ch.Type != "INSERT" || ch.Record.ID != want {
			return fmt.Errorf("line %d: got %s %s.%s id %d, want INSERT public.items id %d", n+1, ch.Type, ch.Schema, ch.Table, ch.Record.ID, want)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if n != rows {
		return fmt.Errorf("printed %d lines, want %d", n, rows)
	}
	return nil
}
