package fanout

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// fanoutRow is one measured phase.
type fanoutRow struct {
	system                      string
	coalesce                    time.Duration // the system's write batching; 0: walcast's default or the peer
	run, subs, rate, publishers int
	payload                     int // bytes of each broadcast; set by the sizes workload only
	measure                     time.Duration
	sent                        int64 // publishes inside the window
	received                    int64 // by subscribers, of those
	pubReceived                 int64 // by the other publishers, of those
	hist                        *stats.Histogram
	serverCPU, loadCPU          time.Duration
	serverSys                   time.Duration // the kernel's part of serverCPU (stime)
	machine                     float64       // cores busy on the whole machine
	lostConns, slowCloses       int           // slowCloses -1: unknown
	lostExample                 string        // why a lost subscriber socket ended
	rssMB                       float64
	connect                     time.Duration
}

// fanoutPhase measures n subscribers at rate msg/s on a fresh server of
// sys: connect the subscribers (load processes) and the publishers,
// publish through the warm-up and the window, wait for late deliveries,
// and collect counts, latencies and CPU times.
func fanoutPhase(ctx context.Context, sys harness.System, opt fanoutOptions, n, rate int) (row fanoutRow, err error) {
	row = fanoutRow{system: sys.Name, coalesce: sys.Coalesce, subs: n, rate: rate, measure: opt.measure, hist: &stats.Histogram{}}
	srv, err := sys.Start(ctx)
	if err != nil {
		return row, err
	}
	defer func() {
		if serr := srv.Stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	url := srv.WsURL(opt.vsn)
	procs := harness.LoadProcCount(opt.procs, n, 2500)
	connecting := time.Now()
	loads, err := harness.StartLoads(ctx, "fanout", n, procs, func(src string, share, _ int) any {
		return fanoutLoadConfig{URL: url, Vsn: opt.vsn, Proto: sys.Proto, Src: src, N: share}
	})
	defer func() {
		for _, p := range loads {
			p.Stop()
		}
	}()
	if err != nil {
		return row, err
	}
	if err := harness.AwaitReady(ctx, loads, 3*time.Minute); err != nil {
		return row, fmt.Errorf("connect subscribers: %w", err)
	}
	row.publishers = int(math.Ceil(float64(rate) / float64(opt.perPublisher)))
	pubs, err := startPublishers(ctx, sys.Proto, srv.WsURL("2.0.0"), row.publishers, opt.payload)
	if err != nil {
		return row, err
	}
	defer pubs.close()
	row.connect = time.Since(connecting)
	time.Sleep(time.Second) // let the joins settle

	start := time.Now()
	from, to := start.Add(opt.warmup), start.Add(opt.warmup+opt.measure)
	for _, p := range loads {
		if err := p.Send(fmt.Sprintf("window %d %d", from.UnixNano(), to.UnixNano())); err != nil {
			return row, err
		}
	}
	pids := []int{os.Getpid()}
	for _, p := range loads {
		pids = append(pids, p.Cmd.Process.Pid)
	}
	sampled := make(chan harness.CPUSample, 1)
	go func() {
		time.Sleep(time.Until(from))
		sampled <- harness.SampleCPU(srv.Pid(), pids)
	}()
	if err := pubs.run(ctx, float64(rate), from.UnixNano(), to.UnixNano()); err != nil {
		return row, err
	}
	after := harness.SampleCPU(srv.Pid(), pids)
	before := <-sampled
	if err := awaitDeliveries(ctx, loads, pubs.sent.Load()*int64(n)); err != nil {
		return row, err
	}
	if err := pubs.kicked(); err != nil {
		return row, err
	}
	row.serverCPU, row.loadCPU = after.Server-before.Server, after.Load-before.Load
	row.serverSys = after.ServerSys - before.ServerSys
	row.machine = after.MachineCores(before)
	row.sent = pubs.sent.Load()
	row.pubReceived = pubs.w.Received.Load()
	row.rssMB = float64(harness.VmRSS(srv.Pid())) / (1 << 20)
	for _, p := range loads {
		if err := p.Send("report"); err != nil {
			return row, err
		}
		var res fanoutLoadResult
		if err := p.Expect(ctx, &res, time.Minute); err != nil {
			return row, err
		}
		row.received += res.Received
		row.lostConns += res.Lost
		if row.lostExample == "" {
			row.lostExample = res.LostExample
		}
		row.hist.Merge(res.Hist.Histogram())
	}
	row.slowCloses = srv.SlowCloses()
	return row, srv.ExitedEarly()
}

// awaitDeliveries waits until the subscribers got want broadcasts of the
// window, or their count stops growing for 5 s: late deliveries then count
// in the latency, and what is missing after that is lost.
func awaitDeliveries(ctx context.Context, loads []*harness.LoadProc, want int64) error {
	var last int64 = -1
	still := 0
	for still < 10 {
		time.Sleep(500 * time.Millisecond)
		var got int64
		for _, p := range loads {
			if err := p.Send("count"); err != nil {
				return err
			}
			var c struct{ Received int64 }
			if err := p.Expect(ctx, &c, 30*time.Second); err != nil {
				return err
			}
			got += c.Received
		}
		if got >= want {
			return nil
		}
		if got == last {
			still++
		} else {
			still = 0
		}
		last = got
	}
	return nil
}
