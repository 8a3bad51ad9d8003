package main

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"
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
	client := sourceClient(cfg.Src)
	w := &window{}
	conns := make([]*roomConn, cfg.N)
	start := time.Now()
	err := dialAll(ctx, cfg.N, 64, func(ctx context.Context, i int) error {
		topic := fmt.Sprintf("realtime:idle-%d", (cfg.Offset+i)%idleRooms)
		c, err := dialRoom(ctx, client, cfg.URL, cfg.Vsn, topic, w)
		conns[i] = c
		return err
	})
	if err != nil {
		emit(map[string]string{"error": err.Error()})
		return err
	}
	emit(map[string]any{"ready": true, "connect_ms": time.Since(start).Milliseconds()})
	wss := make([]*websocket.Conn, len(conns))
	for i, c := range conns {
		wss[i] = c.ws
	}
	hctx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go heartbeats(hctx, wss, cfg.Vsn)
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
