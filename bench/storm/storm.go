package storm

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// Run is the storm command.
func Run(ctx context.Context, args []string) error {
	if os.Getenv(harness.EnvLoadMode) != "" {
		return stormLoad(ctx)
	}
	opt, err := parseStormFlags(args)
	if err != nil {
		return err
	}
	b, systems, _, stop, err := harness.StartRoomSystems(ctx, "walcast-storm-", opt.systems)
	defer stop()
	if err != nil {
		return err
	}
	var rows []stormRow
	for run := 1; run <= opt.runs; run++ {
		for _, sys := range systems {
			got, err := stormPhase(ctx, sys, opt, run)
			if err != nil {
				return fmt.Errorf("%s: %w", sys.Name, err)
			}
			rows = append(rows, got...)
		}
	}
	env := b.Env(true)
	var md bytes.Buffer
	writeStormReport(&md, opt, rows, env)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, stormResults(rows, env))
}
