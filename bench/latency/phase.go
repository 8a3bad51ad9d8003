package latency

import (
	"context"
	"fmt"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// barePhase measures the bare pgoutput receiver under one paced load.
func (b *latencyBench) barePhase(ctx context.Context, rate, round int) (phaseResult, error) {
	warmK, measK := b.Marker()
	r, err := startBare(ctx, b.URL, "", measK)
	if err != nil {
		return phaseResult{}, err
	}
	defer r.Stop()
	var before harness.CPUSnap
	ls, err := runLoad(ctx, b.Load, rate, 0, b.opt.warmup, b.opt.measure, warmK, measK, func() { before = harness.TakeCPU(b.Postmaster, 0) })
	if err != nil {
		return phaseResult{}, err
	}
	if err := harness.WaitDelivered(ctx, r.Recv.Load, ls.measured, r.failed, drainWait); err != nil {
		return phaseResult{}, err
	}
	use := before.Until(harness.TakeCPU(b.Postmaster, 0))
	r.Stop()
	if err := r.failed(); err != nil {
		return phaseResult{}, err
	}
	res := phaseResult{rate: rate, round: round, hist: r.Hist, sent: ls.measured, want: ls.measured, delivered: r.Recv.Load(),
		span: time.Duration(r.Last - ls.measureStart.UnixNano()), late: ls.late, unsent: ls.unsent, cpu: use}
	if res.delivered != res.sent {
		res.gapClients = 1
	}
	res.log(b.opt.measure)
	return res, nil
}

// walcastPhase measures walcast serve with spec.subs WebSocket subscribers
// under one paced load. Each phase runs its own server process on a fresh
// slot. Without a filter every subscriber should get every measured row;
// with eq, subscriber i the rows whose sub is i.
func (b *latencyBench) walcastPhase(ctx context.Context, spec phaseSpec, round int) (res phaseResult, err error) {
	n, eq := spec.subs, spec.mode == filterEq
	warmK, measK := b.Marker()
	slot := fmt.Sprintf("bench_walcast_%d", measK)
	profile := ""
	if b.opt.cpuprofile != "" {
		profile = fmt.Sprintf("%s-%d-%d-%s-%d.prof", b.opt.cpuprofile, spec.rate, n, spec.mode, round)
	}
	srv, stopServe, err := b.ServeOnSlot(ctx, slot, profile)
	if err != nil {
		return res, err
	}
	defer func() {
		if serr := stopServe(); err == nil {
			err = serr
		}
	}()
	connecting := time.Now()
	set, err := dialClients(ctx, b.WsURL(srv.Port), n, measK, true, eq)
	if err != nil {
		return res, fmt.Errorf("connect subscribers: %w", err)
	}
	defer set.close()
	res.connect = time.Since(connecting)
	pid := srv.Cmd.Process.Pid
	mod := 0
	if eq {
		mod = n
	}
	var before harness.CPUSnap
	ls, err := runLoad(ctx, b.Load, spec.rate, mod, b.opt.warmup, b.opt.measure, warmK, measK, func() { before = harness.TakeCPU(b.Postmaster, pid) })
	if err != nil {
		return res, err
	}
	// want is what each client should get.
	want := func(i int) int64 {
		if eq {
			return ls.perSub[i]
		}
		return ls.measured
	}
	for i := range n {
		res.want += want(i)
	}
	if err := harness.WaitDelivered(ctx, set.received, res.want, srv.ExitedEarly, drainWait); err != nil {
		return res, err
	}
	res.cpu = before.Until(harness.TakeCPU(b.Postmaster, pid))
	if err := srv.ExitedEarly(); err != nil {
		return res, err
	}
	res.lostConns, res.connErr = set.lostConns()
	set.close()
	res.rate, res.subs, res.mode, res.round, res.sent, res.late, res.unsent = spec.rate, n, spec.mode, round, ls.measured, ls.late, ls.unsent
	var last int64
	for i, c := range set.clients {
		res.hist.Merge(&c.Hist)
		got := c.Recv.Load()
		res.delivered += got
		res.misrouted += c.misrouted.Load()
		res.dups += stats.Duplicates(c.ids)
		if got != want(i) {
			res.gapClients++
		}
		last = max(last, c.Last)
	}
	res.span = time.Duration(last - ls.measureStart.UnixNano())
	res.slowClosed = srv.LogCount("slow consumer")
	res.log(b.opt.measure)
	return res, nil
}

// drainWait bounds how long a phase waits for deliveries after its load
// ended; what has not arrived by then counts as missing.
const drainWait = 15 * time.Second
