package idle

import (
	"context"
	"fmt"

	"github.com/walcast/walcast/bench/harness"
)

// idleRooms is how many channels the idle connections spread over.
const idleRooms = 100

type idleLoadConfig struct {
	URL, Vsn, Src string
	Proto         string // protoPhoenix or protoCentrifugo
	N, Offset     int
}

// idleLoad is an idle-connection load process: N sockets from Src, each
// joined to one channel, then silent except for realtime-js's heartbeat
// every 25 s (and the pongs coder/websocket answers pings with) for
// walcast, or the answers to the server's pings for Centrifugo. It exits
// when its stdin closes.
func idleLoad(ctx context.Context) error {
	var cfg idleLoadConfig
	if err := harness.LoadConfig(&cfg); err != nil {
		return err
	}
	_, conns, stopKeepAlive, err := harness.JoinConns(ctx, cfg.Proto, harness.SourceClient(cfg.Src), cfg.URL, cfg.Vsn, cfg.N, 64, func(i int) string {
		return harness.ChannelName(cfg.Proto, fmt.Sprintf("idle-%d", (cfg.Offset+i)%idleRooms))
	})
	if err != nil {
		return err
	}
	defer stopKeepAlive()
	for cmd := range harness.Commands() {
		if cmd == "count" {
			lost := 0
			for _, c := range conns {
				select {
				case <-c.Done:
					lost++
				default:
				}
			}
			harness.Emit(map[string]int{"lost": lost})
		}
	}
	for _, c := range conns {
		c.Ws.CloseNow()
	}
	return nil
}
