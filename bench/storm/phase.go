package storm

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// Storm kinds.
const (
	kindJoin      = "join"
	kindReconnect = "reconnect"
)

// stormRow is one storm on one server.
type stormRow struct {
	system, kind   string
	run, clients   int
	joined, failed int
	failExample    string
	took           time.Duration // from the command to the last join
	serverCPU      time.Duration // utime+stime of the server over the storm
	rssMB          float64       // server RSS after the storm
	procs          int
}

// stormPhase starts a fresh server of sys, spreads the clients over load
// processes, runs the join storm and then the reconnect storm, and
// returns a row for each.
func stormPhase(ctx context.Context, sys harness.System, opt stormOptions, run int) (rows []stormRow, err error) {
	srv, err := sys.Start(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := srv.Stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	procs := harness.LoadProcCount(opt.procs, opt.join, 2500)
	reconnectLeft := opt.reconnect
	loads, err := harness.StartLoads(ctx, "storm", opt.join, procs, func(src string, share, offset int) any {
		// The reconnecting clients are spread over the processes like
		// the others, so that both storms come from every address.
		r := min(share, (opt.reconnect*share+opt.join-1)/opt.join, reconnectLeft)
		reconnectLeft -= r
		return stormLoadConfig{URL: srv.WsURL(opt.vsn), Vsn: opt.vsn, Proto: sys.Proto, Src: src, N: share, Offset: offset, Reconnect: r}
	})
	defer func() {
		for _, p := range loads {
			p.Stop()
		}
	}()
	if err != nil {
		return nil, err
	}
	if err := harness.AwaitReady(ctx, loads, time.Minute); err != nil {
		return nil, fmt.Errorf("start the load processes: %w", err)
	}
	for _, kind := range []string{kindJoin, kindReconnect} {
		row := stormRow{system: sys.Name, kind: kind, run: run, clients: opt.join, procs: procs}
		if kind == kindReconnect {
			row.clients = opt.reconnect - reconnectLeft
		}
		cpu0, _ := harness.ProcCPU(srv.Pid())
		start := time.Now()
		for _, p := range loads {
			if err := p.Send(kind); err != nil {
				return rows, err
			}
		}
		var last int64
		for _, p := range loads {
			var res stormResult
			if err := p.Expect(ctx, &res, 3*time.Minute); err != nil {
				return rows, fmt.Errorf("%s storm: %w", kind, err)
			}
			row.joined += res.Joined
			row.failed += res.Failed
			if row.failExample == "" {
				row.failExample = res.FailExample
			}
			last = max(last, res.LastNs)
		}
		cpu1, _ := harness.ProcCPU(srv.Pid())
		row.serverCPU = cpu1 - cpu0
		if last > 0 {
			row.took = time.Unix(0, last).Sub(start)
		}
		row.rssMB = float64(harness.VmRSS(srv.Pid())) / (1 << 20)
		fmt.Fprintln(os.Stderr, row.line())
		rows = append(rows, row)
		time.Sleep(time.Second) // let the server settle between the storms
	}
	return rows, srv.ExitedEarly()
}

// cpuPerJoinMs is the server's CPU per joined client, in ms; 0 when none
// joined.
func (r stormRow) cpuPerJoinMs() float64 {
	if r.joined == 0 {
		return 0
	}
	return r.serverCPU.Seconds() * 1000 / float64(r.joined)
}

func (r stormRow) line() string {
	return fmt.Sprintf("storm run %d, %s, %s: %d clients, %d joined, %d failed, all joined after %.2f s, server CPU %.2f s (%.3f ms per join), RSS %.0f MB",
		r.run, r.system, r.kind, r.clients, r.joined, r.failed, r.took.Seconds(), r.serverCPU.Seconds(), r.cpuPerJoinMs(), r.rssMB)
}
