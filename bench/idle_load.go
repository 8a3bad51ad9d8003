package main

import (
	"context"
	"fmt"
)

// idleRooms is how many channels the idle connections spread over.
const idleRooms = 100

type idleLoadConfig struct {
	URL, Vsn, Src string
	N, Offset     int
}

// idleLoad is an idle-connection load process: N sockets from Src, each
// joined to one channel, then silent except for realtime-js's heartbeat
// every 25 s (and the pongs coder/websocket answers pings with). It exits
// when its stdin closes.
func idleLoad(ctx context.Context) error {
	var cfg idleLoadConfig
	if err := loadConfig(&cfg); err != nil {
		return err
	}
	_, conns, err := joinRoomConns(ctx, sourceClient(cfg.Src), cfg.URL, cfg.Vsn, cfg.N, 64, func(i int) string {
		return fmt.Sprintf("realtime:idle-%d", (cfg.Offset+i)%idleRooms)
	})
	if err != nil {
		return err
	}
	defer keepAlive(ctx, conns, cfg.Vsn)()
	for cmd := range commands() {
		if cmd == "count" {
			lost := 0
			for _, c := range conns {
				select {
				case <-c.done:
					lost++
				default:
				}
			}
			emit(map[string]int{"lost": lost})
		}
	}
	for _, c := range conns {
		c.ws.CloseNow()
	}
	return nil
}
