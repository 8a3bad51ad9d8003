package storm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

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
	b, systems, peer, stop, err := harness.StartRoomSystems(ctx, "walcast-storm-", opt.walcast, opt.peer, opt.centrifugo, 0)
	defer stop()
	if err != nil {
		return err
	}
	if peer != nil && opt.peerProtobuf {
		systems = append(systems, peer.ProtobufSystem())
	}
	began := time.Now()
	loadBefore := harness.LoadAverage()
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
	env := harness.RoomBenchEnv{
		Machine: harness.RoomMachineLine(b.Bin, peer),
		Context: fmt.Sprintf("load average %s before, %s after; took %s; RLIMIT_NOFILE %s",
			loadBefore, harness.LoadAverage(), time.Since(began).Round(time.Second), harness.FileLimit()),
		Peer: peer,
	}
	var md bytes.Buffer
	writeStormReport(&md, opt, rows, env)
	return report.PublishReport(md.Bytes(), opt.out, opt.json, stormResults(rows, env))
}
