package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// barePhase measures the bare pgoutput receiver under one paced load.
func (b *latencyBench) barePhase(ctx context.Context, rate, round int) (phaseResult, error) {
	warmK, measK := b.marker()
	r, err := startBare(ctx, b.url, "", measK)
	if err != nil {
		return phaseResult{}, err
	}
	defer r.stop()
	var before cpuSnap
	ls, err := runLoad(ctx, b.load, rate, 0, b.opt.warmup, b.opt.measure, warmK, measK, func() { before = takeCPU(b.postmaster, 0) })
	if err != nil {
		return phaseResult{}, err
	}
	if err := waitDelivered(ctx, r.recv.Load, ls.measured, r.failed, drainWait); err != nil {
		return phaseResult{}, err
	}
	use := before.until(takeCPU(b.postmaster, 0))
	r.stop()
	if err := r.failed(); err != nil {
		return phaseResult{}, err
	}
	res := phaseResult{rate: rate, round: round, hist: r.hist, sent: ls.measured, want: ls.measured, delivered: r.recv.Load(),
		span: time.Duration(r.last - ls.measureStart.UnixNano()), late: ls.late, unsent: ls.unsent, cpu: use}
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
	warmK, measK := b.marker()
	slot := fmt.Sprintf("bench_walcast_%d", measK)
	profile := ""
	if b.opt.cpuprofile != "" {
		profile = fmt.Sprintf("%s-%d-%d-%s-%d.prof", b.opt.cpuprofile, spec.rate, n, spec.mode, round)
	}
	srv, stopServe, err := b.serveOnSlot(ctx, slot, profile)
	if err != nil {
		return res, err
	}
	defer func() {
		if serr := stopServe(); err == nil {
			err = serr
		}
	}()
	connecting := time.Now()
	set, err := dialClients(ctx, b.wsURL(srv.port), n, measK, true, eq)
	if err != nil {
		return res, fmt.Errorf("connect subscribers: %w", err)
	}
	defer set.close()
	res.connect = time.Since(connecting)
	pid := srv.cmd.Process.Pid
	mod := 0
	if eq {
		mod = n
	}
	var before cpuSnap
	ls, err := runLoad(ctx, b.load, spec.rate, mod, b.opt.warmup, b.opt.measure, warmK, measK, func() { before = takeCPU(b.postmaster, pid) })
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
	if err := waitDelivered(ctx, set.received, res.want, srv.exitedEarly, drainWait); err != nil {
		return res, err
	}
	res.cpu = before.until(takeCPU(b.postmaster, pid))
	if err := srv.exitedEarly(); err != nil {
		return res, err
	}
	res.lostConns, res.connErr = set.lostConns()
	set.close()
	res.rate, res.subs, res.mode, res.round, res.sent, res.late, res.unsent = spec.rate, n, spec.mode, round, ls.measured, ls.late, ls.unsent
	var last int64
	for i, c := range set.clients {
		res.hist.merge(&c.hist)
		got := c.recv.Load()
		res.delivered += got
		res.misrouted += c.misrouted.Load()
		res.dups += duplicates(c.ids)
		if got != want(i) {
			res.gapClients++
		}
		last = max(last, c.last)
	}
	res.span = time.Duration(last - ls.measureStart.UnixNano())
	res.slowClosed = srv.logCount("slow consumer")
	res.log(b.opt.measure)
	return res, nil
}

// drainWait bounds how long a phase waits for deliveries after its load
// ended; what has not arrived by then counts as missing.
const drainWait = 15 * time.Second

// waitDelivered waits until got reaches want, or stalls for 5 s, or limit
// passes (the gap is then reported as missing), or failed reports an error.
func waitDelivered(ctx context.Context, got func() int64, want int64, failed func() error, limit time.Duration) error {
	last, lastChange := got(), time.Now()
	deadline := lastChange.Add(limit)
	for {
		n := got()
		switch {
		case n >= want || failed() != nil || time.Now().After(deadline):
			return nil
		case n != last:
			last, lastChange = n, time.Now()
		case time.Since(lastChange) > 5*time.Second:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// quietCores is how much CPU processes outside the run may use for a phase
// to start without waiting.
const quietCores = 0.15

// quietness is what waitQuiet saw before a phase.
type quietness struct {
	waited time.Duration
	other  float64 // cores used by other processes in the last second
}

// waitQuiet waits, up to --quiet-wait, until processes outside this run
// use less than quietCores, so that other work on a shared machine lands
// in as few phases as possible.
func (b *pgBench) waitQuiet(ctx context.Context) (quietness, error) {
	start := time.Now()
	for said := false; ; said = true {
		if b.quietWait <= 0 {
			return quietness{}, nil
		}
		a := takeCPU(b.postmaster, 0)
		select {
		case <-ctx.Done():
			return quietness{}, ctx.Err()
		case <-time.After(time.Second):
		}
		q := quietness{waited: time.Since(start), other: a.until(takeCPU(b.postmaster, 0)).other()}
		if q.other < quietCores || q.waited >= b.quietWait {
			return q, nil
		}
		if !said {
			fmt.Fprintf(os.Stderr, "waiting for other processes to quiet down (%.2f cores busy) ...\n", q.other)
		}
	}
}
