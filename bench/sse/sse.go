package sse

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// Run runs the parts of the workload, each transport on a fresh server per
// row, WebSocket then SSE, and writes the report.
func Run(ctx context.Context, args []string) error {
	if os.Getenv(harness.EnvLoadMode) != "" {
		return runLoad(ctx)
	}
	opt, err := parseFlags(args)
	if err != nil {
		return err
	}
	b, stop, err := harness.StartPGBenchTemp(ctx, "walcast-sse-", 1, 30*time.Second, opt.walcast)
	defer stop()
	if err != nil {
		return err
	}
	machine, err := harness.DescribeMachine(ctx, b.Conn, filepath.Join(b.BinDir, "pg_recvlogical"), b.Bin)
	if err != nil {
		return err
	}
	r := &bench{b: b}
	began := time.Now()
	var res results
	for _, kind := range []string{kindWS, kindSSE} {
		if !opt.runs("fanout") {
			break
		}
		row, err := r.fanout(ctx, opt, kind)
		if err != nil {
			return fmt.Errorf("fan-out, %s: %w", kind, err)
		}
		fmt.Fprintln(os.Stderr, row.line())
		res.fan = append(res.fan, row)
	}
	for _, kind := range []string{kindWS, kindSSE} {
		if !opt.runs("idle") {
			break
		}
		row, err := r.idle(ctx, opt, kind)
		if err != nil {
			return fmt.Errorf("idle, %s: %w", kind, err)
		}
		fmt.Fprintln(os.Stderr, row.line())
		res.idle = append(res.idle, row)
	}
	for _, kind := range []string{kindWS, kindSSE} {
		if !opt.runs("replay") {
			break
		}
		row, err := r.replay(ctx, opt, kind)
		if err != nil {
			return fmt.Errorf("replay, %s: %w", kind, err)
		}
		fmt.Fprintln(os.Stderr, row.line())
		res.replay = append(res.replay, row)
	}
	res.machine = machine
	res.context = fmt.Sprintf("took %s; RLIMIT_NOFILE %s", time.Since(began).Round(time.Second), harness.FileLimit())
	var md bytes.Buffer
	writeReport(&md, opt, res)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, res.json())
}

// bench is the cluster of a run and the servers it started.
type bench struct {
	b      *harness.PGBench
	serves int
}

// server is one walcast serve of a row.
type server struct {
	*harness.ServeProc
	log, ws, sse string
	stop         func() error
}

// serve starts a fresh walcast serve on its own slot with env added.
// A CPU profile is written to profile when given.
func (r *bench) serve(ctx context.Context, profile string, env ...string) (*server, error) {
	r.serves++
	slot := fmt.Sprintf("bench_sse_%d", r.serves)
	srv, stop, err := r.b.ServeOnSlot(ctx, slot, profile, env...)
	if err != nil {
		return nil, err
	}
	ws := r.b.WsURL(srv.Port)
	u, err := url.Parse(ws)
	if err != nil {
		stop()
		return nil, err
	}
	sse := fmt.Sprintf("http://127.0.0.1:%d/realtime/v1/sse?apikey=%s&schema=public&table=t&event=INSERT", srv.Port, url.QueryEscape(u.Query().Get("apikey")))
	return &server{ServeProc: srv, log: filepath.Join(r.b.Tmp, slot+".log"), ws: ws, sse: sse, stop: stop}, nil
}

func (s *server) pid() int { return s.Cmd.Process.Pid }

// url is where clients of kind connect.
func (s *server) url(kind string) string {
	if kind == kindSSE {
		return s.sse
	}
	return s.ws
}

// startLoads starts the load processes of n subscribers of kind, one per
// perProc unless --procs says otherwise, and waits until all are live.
func startLoads(ctx context.Context, opt options, srv *server, kind string, n, perProc int, marker int64) ([]*harness.LoadProc, time.Duration, error) {
	start := time.Now()
	loads, err := harness.StartLoads(ctx, "sse", n, harness.LoadProcCount(opt.procs, n, perProc), func(src string, share, _ int) any {
		return loadConfig{Kind: kind, URL: srv.url(kind), Src: src, N: share, Marker: marker}
	})
	if err == nil {
		err = harness.AwaitReady(ctx, loads, 5*time.Minute)
	}
	return loads, time.Since(start), err
}

func stopLoads(loads []*harness.LoadProc) {
	for _, p := range loads {
		p.Stop()
	}
}

// collect asks every load process for its tally against expect rows per
// subscriber and sums them.
func collect(ctx context.Context, loads []*harness.LoadProc, expect int64) (tally, error) {
	var sum tally
	sum.add(tally{})
	for _, p := range loads {
		if err := p.Send(fmt.Sprintf("count %d", expect)); err != nil {
			return sum, err
		}
		var t tally
		if err := p.Expect(ctx, &t, time.Minute); err != nil {
			return sum, err
		}
		sum.add(t)
	}
	return sum, nil
}
