package rls

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// rlsOptions are the flags of the rls command.
type rlsOptions struct {
	users, runs, rows, txRows, rate int
	quick                           bool
	quietWait                       time.Duration
	out, json, walcast              string
}

func parseRLSFlags(args []string) (rlsOptions, error) {
	fs := flag.NewFlagSet("rls", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: 1 run of 4,000 rows per mode, 2 s quiet wait")
	users := fs.Int("users", 20, "authenticated users, one WebSocket connection and channel each; row g belongs to user g mod users")
	runs := fs.Int("runs", 3, "rounds, each measuring both modes once, in turn")
	rows := fs.Int("rows", 20_000, "rows inserted per measurement")
	txRows := fs.Int("tx-rows", 10, "rows per transaction")
	rate := fs.Int("rate", 1000, "rows/s the load inserts (paced)")
	quietWait := fs.Duration("quiet-wait", 5*time.Second, "before each measurement, wait up to this long for other processes to use under 0.15 cores (0: don't wait)")
	out := fs.String("out", "", "also write the report to this file")
	jsonPath := fs.String("json", "", "write the targets (Results) as JSON to this file")
	walcast := fs.String("walcast", "", "walcast binary (default: built from ./cmd/walcast)")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return rlsOptions{}, err
	}
	opt := rlsOptions{users: *users, runs: *runs, rows: *rows, txRows: *txRows, rate: *rate, quick: *quick, quietWait: *quietWait,
		out: *out, json: *jsonPath, walcast: *walcast}
	if *quick {
		for name, set := range map[string]func(){
			"runs":       func() { opt.runs = 1 },
			"rows":       func() { opt.rows = 4_000 },
			"quiet-wait": func() { opt.quietWait = 2 * time.Second },
		} {
			if !cli.FlagSet(fs, name) {
				set()
			}
		}
	}
	switch {
	case opt.users < 1 || opt.users > 1000:
		return opt, cli.Usage(errors.New("--users must be 1 to 1,000"))
	case opt.runs < 1 || opt.rows < 1 || opt.txRows < 1 || opt.rate < 1:
		return opt, cli.Usage(errors.New("--runs, --rows, --tx-rows and --rate must be at least 1"))
	case opt.quietWait < 0:
		return opt, cli.Usage(errors.New("--quiet-wait must not be negative"))
	}
	return opt, nil
}

// The tables of the two modes: the same columns, notes_rls with row
// security whose policy lets an authenticated user SELECT its own rows
// (owner = the token's sub), notes_open without. sent_ns is the load
// generator's clock just before the transaction's INSERT.
const rlsSetupSQL = `
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
END $$;
CREATE TABLE notes_open (
  id bigserial PRIMARY KEY,
  k int NOT NULL,
  owner int NOT NULL,
  sent_ns bigint NOT NULL,
  payload text NOT NULL
);
CREATE TABLE notes_rls (
  id bigserial PRIMARY KEY,
  k int NOT NULL,
  owner int NOT NULL,
  sent_ns bigint NOT NULL,
  payload text NOT NULL
);
ALTER TABLE notes_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes_rls FOR SELECT TO authenticated
  USING (owner = nullif(current_setting('request.jwt.claim.sub', true), '')::int);
GRANT SELECT ON notes_open, notes_rls TO authenticated;`

// Run measures both modes, alternating, runs times.
func Run(ctx context.Context, args []string) error {
	opt, err := parseRLSFlags(args)
	if err != nil {
		return err
	}
	pb, stop, err := harness.StartPGBenchTemp(ctx, "walcast-rls-", 1, opt.quietWait, opt.walcast)
	defer stop()
	if err != nil {
		return err
	}
	b := &rlsBench{PGBench: pb}
	if _, err := b.Conn.Exec(ctx, rlsSetupSQL); err != nil {
		return fmt.Errorf("create the notes tables and policy: %w", err)
	}
	for u := range opt.users {
		tok, err := auth.Sign([]byte(b.Secret), map[string]any{"role": "authenticated", "sub": fmt.Sprint(u), "exp": time.Now().Add(24 * time.Hour).Unix()})
		if err != nil {
			return fmt.Errorf("sign the token of user %d: %w", u, err)
		}
		b.tokens = append(b.tokens, tok)
	}
	loadBefore := harness.LoadAverage()
	began := time.Now()
	var ms []measurement
	for run := 1; run <= opt.runs; run++ {
		// Alternate which mode goes first, so that neither always follows
		// the other.
		order := modes
		if run%2 == 0 {
			order = []mode{modes[1], modes[0]}
		}
		for _, md := range order {
			m, err := b.measure(ctx, opt, md)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", run, md.name, err)
			}
			m.run = run
			fmt.Fprintln(os.Stderr, m.line())
			ms = append(ms, m)
		}
	}
	machine, err := harness.DescribeMachine(ctx, b.Conn, filepath.Join(b.BinDir, "postgres"), b.Bin)
	if err != nil {
		return err
	}
	rep := rlsReport{opt: opt, ms: ms, env: fmt.Sprintf("%s Load average (1 min) before / after: %s / %s. Run took %s.",
		machine, loadBefore, harness.LoadAverage(), time.Since(began).Round(time.Second))}
	var md bytes.Buffer
	rep.write(&md)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, report.Results{Workload: "rls", Machine: machine, Targets: rep.targets()})
}
