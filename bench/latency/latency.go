package latency

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
	"github.com/walcast/walcast/bench/stats"
)

// latencyBench is the state shared by the phases of one latency run.
type latencyBench struct {
	*harness.PGBench
	opt latencyOptions
}

func Run(ctx context.Context, args []string) error {
	opt, err := parseLatencyFlags(args)
	if err != nil {
		return err
	}
	pb, stop, err := harness.StartPGBenchTemp(ctx, "walcast-bench-", opt.conns, opt.quietWait, opt.walcast)
	b := &latencyBench{PGBench: pb, opt: opt}
	defer stop()
	if err != nil {
		return err
	}

	loadBefore := harness.LoadAverage()
	began := time.Now()
	phases, err := b.runPhases(ctx)
	if err != nil {
		return err
	}
	var bursts []stats.Result
	var burstNote string
	var burstErr error // reported after the matrix's report and JSON are written
	if opt.burstRuns > 0 && opt.burst > 0 {
		if bursts, burstNote, err = b.burstRuns(ctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			bursts, burstErr = nil, fmt.Errorf("burst: %w", err)
		}
	}

	machine, err := harness.DescribeMachine(ctx, b.Conn, filepath.Join(b.BinDir, "postgres"), b.Bin)
	if err != nil {
		return err
	}
	settings, err := harness.PgSettings(ctx, b.Conn)
	if err != nil {
		return err
	}
	var md bytes.Buffer
	writeLatencyReport(&md, opt, phases, bursts, reportContext{
		machine: machine, settings: settings, loadBefore: loadBefore, loadAfter: harness.LoadAverage(),
		took: time.Since(began), burstNote: burstNote, burstErr: burstErr,
	})
	if err := report.PublishReport(md.Bytes(), opt.out, opt.json, latencyResults(opt, phases, machine)); err != nil {
		return err
	}
	return burstErr
}

// runPhases runs the rounds: per rate, the bare receiver once, then walcast
// with each subscriber count and filter mode under the delivery cap.
func (b *latencyBench) runPhases(ctx context.Context) ([]phaseResult, error) {
	var phases []phaseResult
	for round := 1; round <= b.opt.rounds; round++ {
		for _, rate := range b.opt.rates {
			run, _ := b.opt.walcastSpecs(rate)
			for _, spec := range append([]phaseSpec{{rate: rate}}, run...) {
				res, err := b.phase(ctx, spec, round)
				if err != nil {
					return nil, fmt.Errorf("round %d, %d rows/s, %s: %w", round, rate, spec.describe(), err)
				}
				phases = append(phases, res)
			}
		}
	}
	return phases, nil
}

// phase runs one phase (subs 0: the bare receiver) once the machine is
// quiet, and repeats it while other processes took more than noisyCores.
func (b *latencyBench) phase(ctx context.Context, spec phaseSpec, round int) (phaseResult, error) {
	for attempt := 0; ; attempt++ {
		q, err := b.WaitQuiet(ctx)
		if err != nil {
			return phaseResult{}, err
		}
		var res phaseResult
		if spec.subs == 0 {
			res, err = b.barePhase(ctx, spec.rate, round)
		} else {
			res, err = b.walcastPhase(ctx, spec, round)
		}
		if err != nil {
			return res, err
		}
		res.quiet, res.repeats = q, attempt
		other := res.cpu.Other()
		if other <= harness.NoisyCores || attempt >= b.opt.retries {
			return res, nil
		}
		fmt.Fprintf(os.Stderr, "other processes took %.2f cores during that phase; repeating it\n", other)
	}
}
