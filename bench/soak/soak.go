package soak

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/report"
)

// sample is one reading of the server under the soak load.
type sample struct {
	at                     time.Duration // since the load started
	rssMB, heapMB          float64       // VmRSS; Go heap in use (go_memstats_heap_inuse_bytes)
	goroutines             int
	deliveries, published  int64 // since the previous sample
	presenceCycles, errors int64 // since the previous sample
}

// Run is the soak command.
func Run(ctx context.Context, args []string) error {
	opt, err := parseSoakFlags(args)
	if err != nil {
		return err
	}
	b, systems, _, stop, err := harness.StartRoomSystems(ctx, "walcast-soak-", harness.RoomSystems{Walcast: opt.walcast, Peer: harness.PeerNone})
	defer stop()
	if err != nil {
		return err
	}
	srv, err := systems[0].Start(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()
	wsURL := srv.WsURL("2.0.0")
	u, err := url.Parse(wsURL)
	if err != nil {
		return err
	}
	metricsURL := "http://" + u.Host + "/metrics"
	loadCtx, cancel := context.WithCancel(ctx)
	load := &mixedLoad{opt: opt, url: wsURL, client: harness.SourceClient("127.0.0.2")}
	defer func() {
		cancel()
		load.close()
	}()
	connecting := time.Now()
	if err := load.start(loadCtx); err != nil {
		return err
	}
	connect := time.Since(connecting)
	fmt.Fprintf(os.Stderr, "soak: %d subscribers, %d publishers, %d presence clients connected in %.1f s; sampling every %s for %s\n",
		opt.subs, opt.rooms, opt.presence, connect.Seconds(), opt.interval, opt.duration)
	samples, err := sampleLoad(ctx, opt, srv.Pid(), metricsURL, load)
	if err != nil {
		return err
	}
	lost := load.lostSubscribers()
	if err := srv.ExitedEarly(); err != nil {
		return err
	}
	run := soakRun{samples: samples, lostSubs: lost, connect: connect}
	if e, ok := load.firstPresenceError.Load().(string); ok {
		run.firstError = e
	}
	env := harness.RoomBenchEnv{Machine: harness.RoomMachineLine(b.Bin, nil), Context: "load average " + harness.LoadAverage() + " at the end"}
	var md bytes.Buffer
	writeSoakReport(&md, opt, run, env)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, soakResults(opt, run, env))
}

// sampleLoad reads the server every interval until the duration is over.
func sampleLoad(ctx context.Context, opt soakOptions, pid int, metricsURL string, load *mixedLoad) ([]sample, error) {
	began := time.Now()
	tick := time.NewTicker(opt.interval)
	defer tick.Stop()
	var samples []sample
	var lastDel, lastPub, lastCycles, lastErrs int64
	for time.Since(began) < opt.duration {
		select {
		case <-ctx.Done():
			return samples, ctx.Err()
		case <-tick.C:
		}
		s := sample{at: time.Since(began), rssMB: float64(harness.VmRSS(pid)) / (1 << 20)}
		m, err := scrape(ctx, metricsURL, "go_memstats_heap_inuse_bytes", "go_goroutines")
		if err != nil {
			return samples, err
		}
		s.heapMB, s.goroutines = m[0]/(1<<20), int(m[1])
		del, pub, cycles, errs := load.w.Received.Load(), load.published.Load(), load.presenceCycles.Load(), load.presenceErrors.Load()
		s.deliveries, s.published, s.presenceCycles, s.errors = del-lastDel, pub-lastPub, cycles-lastCycles, errs-lastErrs
		lastDel, lastPub, lastCycles, lastErrs = del, pub, cycles, errs
		fmt.Fprintln(os.Stderr, s.line())
		samples = append(samples, s)
	}
	return samples, nil
}

func (s sample) line() string {
	return fmt.Sprintf("soak %4.0f s: RSS %.1f MB, heap in use %.1f MB, %d goroutines; %d published, %d deliveries, %d presence rejoins, %d errors",
		s.at.Seconds(), s.rssMB, s.heapMB, s.goroutines, s.published, s.deliveries, s.presenceCycles, s.errors)
}

// scrape reads the named samples (without labels) from a Prometheus text
// exposition at url, in the order asked.
func scrape(ctx context.Context, url string, names ...string) ([]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the server's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read the server's metrics: %s", resp.Status)
	}
	return parseMetrics(bufio.NewScanner(resp.Body), names)
}

// parseMetrics finds the named samples in the lines of sc.
func parseMetrics(sc *bufio.Scanner, names []string) ([]float64, error) {
	out := make([]float64, len(names))
	found := make([]bool, len(names))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		for i, n := range names {
			if name == n {
				v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
				if err != nil {
					return nil, fmt.Errorf("metric %s: %w", n, err)
				}
				out[i], found[i] = v, true
			}
		}
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("the server's metrics lack %s", names[i])
		}
	}
	return out, sc.Err()
}
