package sse

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/walcast/walcast/bench/harness"
)

// loadConfig is what one load process runs: N subscribers of Kind from
// the address Src.
type loadConfig struct {
	Kind, URL, Src string
	N              int
	Marker         int64
}

// runLoad is a load process: it opens its subscribers, says when every one
// is live, answers "count N" with the tally against N rows each, and
// closes them when its stdin closes.
func runLoad(ctx context.Context) error {
	var cfg loadConfig
	if err := harness.LoadConfig(&cfg); err != nil {
		return err
	}
	client := harness.SourceClient(cfg.Src)
	hb := harness.StartHeartbeats(ctx, "2.0.0", harness.HeartbeatInterval)
	defer hb.Stop()
	rs := make([]*receiver, cfg.N)
	defer func() {
		for _, r := range rs {
			if r != nil {
				r.close()
			}
		}
	}()
	err := harness.DialAll(ctx, cfg.N, 64, func(ctx context.Context, i int) error {
		var err error
		if cfg.Kind == kindSSE {
			rs[i], err = dialSSE(ctx, client, cfg.URL, "", cfg.Marker)
		} else {
			rs[i], err = dialWS(ctx, client, hb, cfg.URL, "", cfg.Marker)
		}
		if err != nil {
			return err
		}
		return rs[i].awaitReady(ctx)
	})
	if err != nil {
		harness.Emit(map[string]string{"error": err.Error()})
		return err
	}
	harness.Emit(map[string]bool{"ready": true})
	for cmd := range harness.Commands() {
		if n, ok := strings.CutPrefix(cmd, "count "); ok {
			expect, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				harness.Emit(map[string]string{"error": fmt.Sprintf("bad command %q", cmd)})
				continue
			}
			harness.Emit(count(rs, expect))
		}
	}
	return nil
}
