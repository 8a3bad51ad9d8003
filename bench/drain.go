package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/walcast/walcast/internal/localpg"
)

// The items table of the drain method (~100-byte rows) and a procedure that
// inserts rows one transaction each. itemRow is the row for series value g.
const (
	setupSQL = `
CREATE TABLE items (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account uuid NOT NULL,
  name text NOT NULL,
  qty int NOT NULL,
  price numeric(12,2) NOT NULL,
  tags text[] NOT NULL,
  meta jsonb NOT NULL,
  active bool NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE PUBLICATION walcast FOR ALL TABLES;
CREATE PROCEDURE insert_items_one_by_one(n int) LANGUAGE plpgsql AS $$
BEGIN
  FOR g IN 1..n LOOP
    INSERT INTO items (account, name, qty, price, tags, meta, active, created_at) SELECT ` + itemRow + `;
    COMMIT;
  END LOOP;
END $$;`
	itemRow = `md5(g::text)::uuid, 'item-' || lpad(g::text, 7, '0'), g % 1000, (g % 100000) / 100.0,
      ARRAY['t' || g % 10, 'bench'], jsonb_build_object('k', g % 100), g % 2 = 0, clock_timestamp()`
)

// load is one workload whose WAL every consumer drains.
type load struct {
	name, desc string
	rows       int
	sql        string // run with synchronous_commit=off
}

// consumer builds the command line that drains slot up to end. A consumer
// either confirms the end LSN on its slot (checked after every run) or
// prints one JSON line per row (checked on the warm-up run).
type consumer struct {
	name       string
	cmd        func(url, slot, end string, rows int) []string
	printsRows bool
}

// drainRun is one load's state: its template slot and the WAL to drain.
type drainRun struct {
	load
	tmpl, end string
	firstID   int64
	walBytes  int64
	loadTime  time.Duration
	copies    int
	tmp, url  string
}

// drainOptions are the flags of the drain command.
type drainOptions struct {
	runs, bigRows, smallRows int
	out, walcast             string
}

const runTimeout = 10 * time.Minute

func parseDrainFlags(args []string) (drainOptions, error) {
	fs := flag.NewFlagSet("drain", flag.ContinueOnError)
	runs := fs.Int("runs", 5, "timed runs per consumer and load")
	quick := fs.Bool("quick", false, "smoke run: 20,000 / 5,000 rows and 3 runs (unless --runs)")
	out := fs.String("out", "", "also write the report to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	if err := fs.Parse(args); err != nil {
		return drainOptions{}, usageError{err}
	}
	if fs.NArg() > 0 {
		return drainOptions{}, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	opt := drainOptions{runs: *runs, bigRows: 200_000, smallRows: 50_000, out: *out, walcast: *walcast}
	if *quick {
		opt.bigRows, opt.smallRows = 20_000, 5_000
		if !flagSet(fs, "runs") {
			opt.runs = 3
		}
	}
	if opt.runs < 1 {
		return drainOptions{}, usageError{errors.New("--runs must be at least 1")}
	}
	return opt, nil
}

func drain(ctx context.Context, args []string) error {
	opt, err := parseDrainFlags(args)
	if err != nil {
		return err
	}
	binDir, err := localpg.FindBinDir()
	if err != nil {
		return err
	}
	recvlogical := filepath.Join(binDir, "pg_recvlogical")
	if _, err := os.Stat(recvlogical); err != nil {
		if recvlogical, err = exec.LookPath("pg_recvlogical"); err != nil {
			return fmt.Errorf("find pg_recvlogical: %w", err)
		}
	}
	tmp, err := clusterTempDir("walcast-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if opt.walcast == "" {
		opt.walcast = filepath.Join(tmp, "walcast")
		if err := buildWalcast(ctx, opt.walcast); err != nil {
			return err
		}
	}

	fmt.Fprintln(os.Stderr, "starting postgres ...")
	cluster, err := localpg.Start(ctx, localpg.Config{
		DataDir:  filepath.Join(tmp, "pgdata"),
		BinDir:   binDir,
		Fast:     true,
		Settings: map[string]string{"logical_decoding_work_mem": "256MB"},
	})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if err := cluster.Stop(sctx); err != nil {
			fmt.Fprintln(os.Stderr, "bench drain:", err)
		}
	}()
	url := cluster.URL("postgres")
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, setupSQL); err != nil {
		return fmt.Errorf("create items table and publication: %w", err)
	}

	consumers := []consumer{
		{"pg_recvlogical", func(url, slot, end string, _ int) []string {
			return []string{recvlogical, "-d", url, "-S", slot, "--start", "--no-loop",
				"-o", "proto_version=1", "-o", "publication_names=walcast", "-E", end, "-f", os.DevNull}
		}, false},
		{"walcast tail", func(url, slot, _ string, rows int) []string {
			return []string{opt.walcast, "tail", "--database-url", url, "--slot", slot, "--count", fmt.Sprint(rows)}
		}, true},
	}
	loads := []load{
		{"big", fmt.Sprintf("1 transaction of %s rows", group(float64(opt.bigRows))), opt.bigRows,
			fmt.Sprintf("INSERT INTO items (account, name, qty, price, tags, meta, active, created_at) SELECT %s FROM generate_series(1, %d) AS g", itemRow, opt.bigRows)},
		{"small", fmt.Sprintf("%s one-row transactions", group(float64(opt.smallRows))), opt.smallRows,
			fmt.Sprintf("CALL insert_items_one_by_one(%d)", opt.smallRows)},
	}

	loadBefore := loadAverage()
	var results []result
	var notes []string
	for _, l := range loads {
		d := &drainRun{load: l, tmpl: "bench_tmpl_" + l.name, tmp: tmp, url: url}
		rs, err := d.measure(ctx, conn, consumers, opt.runs)
		if err != nil {
			return fmt.Errorf("load %s: %w", l.name, err)
		}
		results = append(results, rs...)
		notes = append(notes, fmt.Sprintf("- %s: %s, %.1f MB of WAL, loaded in %.2f s",
			l.name, l.desc, float64(d.walBytes)/1e6, d.loadTime.Seconds()))
	}

	machine, err := describeMachine(ctx, conn, recvlogical, opt.walcast)
	if err != nil {
		return err
	}
	var report bytes.Buffer
	fmt.Fprintf(&report, "Drain of identical WAL: each run reads a fresh copy of the load's template slot, up to the LSN after the load; "+
		"consumers alternate, one at a time, after one untimed warm-up run each; times are the client process's wall time, start to exit.\n"+
		"pg_recvlogical: proto_version 1, output to /dev/null. walcast tail: its own settings (proto_version 2, messages on), JSON lines to /dev/null.\n\n")
	fmt.Fprintf(&report, "%s Load average (1 min) before / after the runs: %s / %s.\n\nLoads:\n%s\n\n",
		machine, loadBefore, loadAverage(), strings.Join(notes, "\n"))
	if err := writeTable(&report, results, consumers[0].name); err != nil {
		return err
	}
	if _, err := os.Stdout.Write(report.Bytes()); err != nil {
		return err
	}
	return writeReportFile(opt.out, report.Bytes())
}

// measure runs the load, checks every consumer once and then times them in
// turn, runs times each.
func (d *drainRun) measure(ctx context.Context, conn *pgx.Conn, consumers []consumer, runs int) ([]result, error) {
	if err := d.prepare(ctx, conn); err != nil {
		return nil, err
	}
	if err := d.verify(ctx, conn, consumers); err != nil {
		return nil, err
	}
	rs := make([]result, len(consumers))
	for i, c := range consumers {
		rs[i] = result{load: d.name, consumer: c.name, rows: d.rows}
	}
	for k := range runs {
		for i, c := range consumers {
			wall, cpu, err := d.timed(ctx, conn, c, nil)
			if err != nil {
				return nil, fmt.Errorf("%s run %d: %w", c.name, k+1, err)
			}
			rs[i].wall = append(rs[i].wall, wall)
			rs[i].cpu = append(rs[i].cpu, cpu)
			fmt.Fprintf(os.Stderr, "%s %s run %d: %.3f s (%.2f CPU-s)\n", d.name, c.name, k+1, wall.Seconds(), cpu.Seconds())
		}
	}
	return rs, nil
}

// prepare creates the template slot, runs the load and records the end LSN.
func (d *drainRun) prepare(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", d.tmpl); err != nil {
		return fmt.Errorf("create template slot: %w", err)
	}
	var start string
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text, coalesce(max(id), 0) + 1 FROM items").Scan(&start, &d.firstID); err != nil {
		return fmt.Errorf("read start LSN: %w", err)
	}
	if _, err := conn.Exec(ctx, "SET synchronous_commit = off"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loading %s: %s ...\n", d.name, d.desc)
	began := time.Now()
	if _, err := conn.Exec(ctx, d.sql); err != nil {
		return fmt.Errorf("run load: %w", err)
	}
	d.loadTime = time.Since(began)
	err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text, pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::text::pg_lsn)::bigint", start).Scan(&d.end, &d.walBytes)
	if err != nil {
		return fmt.Errorf("read end LSN: %w", err)
	}
	// With synchronous_commit=off the last commits reach disk within
	// wal_writer_delay; walsenders decode flushed WAL only, so no run may
	// start before.
	deadline := time.Now().Add(time.Minute)
	for {
		var flushed bool
		if err := conn.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn() >= $1::text::pg_lsn", d.end).Scan(&flushed); err != nil {
			return fmt.Errorf("read flush LSN: %w", err)
		}
		if flushed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("WAL not flushed up to %s after a minute", d.end)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// verify runs every consumer once, untimed, as a warm-up and a check:
// pg_recvlogical must have confirmed the end LSN, walcast tail must have
// printed exactly the load's rows.
func (d *drainRun) verify(ctx context.Context, conn *pgx.Conn, consumers []consumer) error {
	for _, c := range consumers {
		path := filepath.Join(d.tmp, "verify.out")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		wall, _, err := d.timed(ctx, conn, c, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s warm-up run: %w", c.name, err)
		}
		fmt.Fprintf(os.Stderr, "%s %s warm-up: %.3f s\n", d.name, c.name, wall.Seconds())
		if c.printsRows {
			if err := checkLines(path, d.rows, d.firstID); err != nil {
				return fmt.Errorf("%s warm-up run: %w", c.name, err)
			}
		}
		os.Remove(path)
	}
	return nil
}

// timed copies the template slot, runs c on the copy with its stdout to out
// (nil: the null device) and drops the copy. It returns the wall time and
// CPU time of the client process.
func (d *drainRun) timed(ctx context.Context, conn *pgx.Conn, c consumer, out *os.File) (wall, cpu time.Duration, err error) {
	d.copies++
	slot := fmt.Sprintf("bench_copy_%s_%d", d.name, d.copies)
	if _, err := conn.Exec(ctx, "SELECT pg_copy_logical_replication_slot($1, $2)", d.tmpl, slot); err != nil {
		return 0, 0, fmt.Errorf("copy slot %s: %w", d.tmpl, err)
	}
	defer func() {
		if derr := dropSlot(context.WithoutCancel(ctx), conn, slot); derr != nil && err == nil {
			err = derr
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	argv := c.cmd(d.url, slot, d.end, d.rows)
	cmd := exec.CommandContext(rctx, argv[0], argv[1:]...)
	cmd.Env = clientEnv()
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
		return 0, 0, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, lastLines(stderr.String(), 20))
	}
	cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if !c.printsRows {
		var reached bool
		err := conn.QueryRow(ctx, "SELECT confirmed_flush_lsn >= $2::text::pg_lsn FROM pg_replication_slots WHERE slot_name = $1", slot, d.end).Scan(&reached)
		if err != nil {
			return 0, 0, fmt.Errorf("read slot %s: %w", slot, err)
		}
		if !reached {
			return 0, 0, fmt.Errorf("%s exited before confirming %s", c.name, d.end)
		}
	}
	return wall, cpu, nil
}

// dropSlot drops a slot, waiting for its walsender to release it.
func dropSlot(ctx context.Context, conn *pgx.Conn, slot string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", slot)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("drop slot %s: %w", slot, err)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond) // object_in_use: still active
	}
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
