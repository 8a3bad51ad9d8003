package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// fanoutRow is one measured phase.
type fanoutRow struct {
	system                      string
	coalesce                    time.Duration // the system's write batching; 0: walcast's default or the peer
	run, subs, rate, publishers int
	measure                     time.Duration
	sent                        int64 // publishes inside the window
	received                    int64 // by subscribers, of those
	pubReceived                 int64 // by the other publishers, of those
	hist                        *histogram
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
func fanoutPhase(ctx context.Context, sys system, opt fanoutOptions, n, rate int) (row fanoutRow, err error) {
	row = fanoutRow{system: sys.name, coalesce: sys.coalesce, subs: n, rate: rate, measure: opt.measure, hist: &histogram{}}
	srv, err := sys.start(ctx)
	if err != nil {
		return row, err
	}
	defer func() {
		if serr := srv.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	url := srv.wsURL(opt.vsn)
	procs := loadProcCount(opt.procs, n, 2500)
	connecting := time.Now()
	loads, err := startLoads(ctx, "fanout", n, procs, func(src string, share, _ int) any {
		return fanoutLoadConfig{URL: url, Vsn: opt.vsn, Proto: sys.proto, Src: src, N: share}
	})
	defer func() {
		for _, p := range loads {
			p.stop()
		}
	}()
	if err != nil {
		return row, err
	}
	if err := awaitReady(ctx, loads, 3*time.Minute); err != nil {
		return row, fmt.Errorf("connect subscribers: %w", err)
	}
	row.publishers = int(math.Ceil(float64(rate) / float64(opt.perPublisher)))
	pubs, err := startPublishers(ctx, sys.proto, srv.wsURL("2.0.0"), row.publishers, opt.payload)
	if err != nil {
		return row, err
	}
	defer pubs.close()
	row.connect = time.Since(connecting)
	time.Sleep(time.Second) // let the joins settle

	start := time.Now()
	from, to := start.Add(opt.warmup), start.Add(opt.warmup+opt.measure)
	for _, p := range loads {
		if err := p.send(fmt.Sprintf("window %d %d", from.UnixNano(), to.UnixNano())); err != nil {
			return row, err
		}
	}
	pids := []int{os.Getpid()}
	for _, p := range loads {
		pids = append(pids, p.cmd.Process.Pid)
	}
	sampled := make(chan cpuSample, 1)
	go func() {
		time.Sleep(time.Until(from))
		sampled <- sampleCPU(srv.pid(), pids)
	}()
	if err := pubs.run(ctx, float64(rate), from.UnixNano(), to.UnixNano()); err != nil {
		return row, err
	}
	after := sampleCPU(srv.pid(), pids)
	before := <-sampled
	if err := awaitDeliveries(ctx, loads, pubs.sent.Load()*int64(n)); err != nil {
		return row, err
	}
	if err := pubs.kicked(); err != nil {
		return row, err
	}
	row.serverCPU, row.loadCPU = after.server-before.server, after.load-before.load
	row.serverSys = after.serverSys - before.serverSys
	row.machine = after.machineCores(before)
	row.sent = pubs.sent.Load()
	row.pubReceived = pubs.w.received.Load()
	row.rssMB = float64(vmRSS(srv.pid())) / (1 << 20)
	for _, p := range loads {
		if err := p.send("report"); err != nil {
			return row, err
		}
		var res fanoutLoadResult
		if err := p.expect(ctx, &res, time.Minute); err != nil {
			return row, err
		}
		row.received += res.Received
		row.lostConns += res.Lost
		if row.lostExample == "" {
			row.lostExample = res.LostExample
		}
		row.hist.merge(res.Hist.histogram())
	}
	row.slowCloses = srv.slowCloses()
	return row, srv.exitedEarly()
}

// awaitDeliveries waits until the subscribers got want broadcasts of the
// window, or their count stops growing for 5 s: late deliveries then count
// in the latency, and what is missing after that is lost.
func awaitDeliveries(ctx context.Context, loads []*loadProc, want int64) error {
	var last int64 = -1
	still := 0
	for still < 10 {
		time.Sleep(500 * time.Millisecond)
		var got int64
		for _, p := range loads {
			if err := p.send("count"); err != nil {
				return err
			}
			var c struct{ Received int64 }
			if err := p.expect(ctx, &c, 30*time.Second); err != nil {
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

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cpuSample is the CPU time of the server (and the kernel's part of it)
// and of the load (this process and the load processes), and the
// machine's busy ticks.
type cpuSample struct {
	at                      time.Time
	server, serverSys, load time.Duration
	busy                    uint64
}

func sampleCPU(server int, load []int) cpuSample {
	s := cpuSample{at: time.Now()}
	user, sys, _, _ := procTimes(server)
	s.server, s.serverSys = user+sys, sys
	for _, pid := range load {
		c, _ := procCPU(pid)
		s.load += c
	}
	s.busy, _, _ = machineBusy()
	return s
}

func (a cpuSample) machineCores(b cpuSample) float64 {
	secs := a.at.Sub(b.at).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(a.busy-b.busy) / clockTicks / secs
}

// vmRSS returns the resident set size of pid in bytes (0 if unknown).
func vmRSS(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			return kb << 10
		}
	}
	return 0
}
