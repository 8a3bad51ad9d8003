package fanout

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/walcast/walcast/bench/harness"
	"github.com/walcast/walcast/bench/stats"
)

// ---- the subscriber load process

type fanoutLoadConfig struct {
	URL, Vsn, Src string
	Proto         string // protoPhoenix or protoCentrifugo
	N             int
}

// fanoutLoadResult is what a subscriber process reports at the end.
type fanoutLoadResult struct {
	Received, Outside int64
	Lost              int // connections that ended before the report
	LostExample       string
	Hist              stats.HistJSON
}

// fanoutLoad is the subscriber process: N connections from Src joined to
// the room (subscribed to the channel, for Centrifugo). Commands: "window
// FROM TO" sets the measurement window (Unix ns); "count" prints how many
// broadcasts of the window arrived so far; "report" prints a
// fanoutLoadResult and exits.
func fanoutLoad(ctx context.Context) error {
	var cfg fanoutLoadConfig
	if err := harness.LoadConfig(&cfg); err != nil {
		return err
	}
	channel := harness.ChannelName(cfg.Proto, harness.FanoutChannel)
	w, conns, stopKeepAlive, err := harness.JoinConns(ctx, cfg.Proto, harness.SourceClient(cfg.Src), cfg.URL, cfg.Vsn, cfg.N, 32, func(int) string { return channel })
	if err != nil {
		return err
	}
	defer stopKeepAlive()

	for cmd := range harness.Commands() {
		f := strings.Fields(cmd)
		switch {
		case len(f) == 3 && f[0] == "window":
			from, _ := strconv.ParseInt(f[1], 10, 64)
			to, _ := strconv.ParseInt(f[2], 10, 64)
			w.From.Store(from)
			w.To.Store(to)
		case len(f) == 1 && f[0] == "count":
			harness.Emit(map[string]int64{"received": w.Received.Load()})
		case len(f) == 1 && f[0] == "report":
			res := fanoutLoadResult{}
			for _, c := range conns {
				select {
				case <-c.Done:
					res.Lost++
					if res.LostExample == "" {
						res.LostExample = fmt.Sprint(c.ReadErr)
					}
				default:
				}
			}
			for _, c := range conns {
				c.Ws.CloseNow()
			}
			for _, c := range conns {
				<-c.Done // each read loop merges its samples as it ends
			}
			res.Received, res.Outside = w.Received.Load(), w.Outside.Load()
			res.Hist = w.Hist.ToJSON()
			harness.Emit(res)
			return nil
		}
	}
	return nil
}
