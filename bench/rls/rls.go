package rls

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/bench/cli"
	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// rlsOptions are the flags of the rls command.
type rlsOptions struct {
	harness.PacedOptions
	users int
}

func parseRLSFlags(args []string) (rlsOptions, error) {
	fs := flag.NewFlagSet("rls", flag.ContinueOnError)
	paced := harness.AddPacedFlags(fs, harness.PacedHelp{Case: "mode", Runs: "rounds, each measuring both modes once, in turn",
		TxRows: "rows per transaction", TxRowsOf: 10, RateOf: 1000})
	users := fs.Int("users", 20, "authenticated users, one WebSocket connection and channel each; row g belongs to user g mod users")
	if err := cli.ParseFlagsOnly(fs, args); err != nil {
		return rlsOptions{}, err
	}
	opt := rlsOptions{users: *users}
	var err error
	if opt.PacedOptions, err = paced.Options(); err != nil {
		return opt, err
	}
	if opt.users < 1 || opt.users > 1000 {
		return opt, cli.Usage(errors.New("--users must be 1 to 1,000"))
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
	pb, stop, err := harness.StartPGBenchTemp(ctx, "walcast-rls-", 1, opt.QuietWait, opt.Walcast)
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
	for run := 1; run <= opt.Runs; run++ {
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
	machine, env, err := b.Describe(ctx, loadBefore, began)
	if err != nil {
		return err
	}
	rep := rlsReport{opt: opt, ms: ms, env: env}
	var md bytes.Buffer
	rep.write(&md)
	return report.PublishReport(md.Bytes(), opt.Out, opt.JSON, report.Results{Workload: "rls", Machine: machine, Targets: rep.targets()})
}
