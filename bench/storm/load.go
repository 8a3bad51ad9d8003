package storm

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/walcast/walcast/bench/harness"
)

// stormRooms is how many channels the clients are spread over.
const stormRooms = 100

type stormLoadConfig struct {
	URL, Vsn, Src string
	Proto         string // phoenix, centrifugo or centrifugo-protobuf
	N, Offset     int    // clients of this process; clients before it
	Reconnect     int    // of them, the ones that drop and reconnect
}

// stormResult is what a load process reports after a storm.
type stormResult struct {
	Joined, Failed int
	FailExample    string
	LastNs         int64 // Unix ns of the last join
}

// stormClients are the connections of one load process.
type stormClients struct {
	cfg    stormLoadConfig
	client *http.Client
	hb     *harness.Heartbeater // walcast's heartbeats; Centrifugo's clients answer pings instead
	w      harness.Window
	conns  []*harness.RoomConn
}

// storm dials clients [from, to) all at once, each joining its channel,
// and reports how many joined, how many failed and when the last joined.
func (s *stormClients) storm(ctx context.Context, from, to int) stormResult {
	var mu sync.Mutex
	var res stormResult
	var wg sync.WaitGroup
	for i := from; i < to; i++ {
		wg.Go(func() {
			channel := harness.ChannelName(s.cfg.Proto, fmt.Sprintf("storm-%d", (s.cfg.Offset+i)%stormRooms))
			var c *harness.RoomConn
			var err error
			if harness.IsCentrifugo(s.cfg.Proto) {
				c, err = harness.DialCentrifugo(ctx, s.cfg.Proto, s.client, s.cfg.URL, channel, &s.w)
			} else {
				c, err = harness.DialRoom(ctx, s.client, s.hb, s.cfg.URL, s.cfg.Vsn, channel, &s.w)
			}
			now := time.Now().UnixNano()
			mu.Lock()
			defer mu.Unlock()
			s.conns[i] = c
			if err != nil {
				res.Failed++
				if res.FailExample == "" {
					res.FailExample = err.Error()
				}
				return
			}
			res.Joined++
			res.LastNs = max(res.LastNs, now)
		})
	}
	wg.Wait()
	return res
}

// drop closes clients [0, n) without a close handshake, as a lost network
// does, and waits until their read loops ended.
func (s *stormClients) drop(n int) {
	for _, c := range s.conns[:n] {
		if c != nil {
			c.Ws.CloseNow()
		}
	}
	for _, c := range s.conns[:n] {
		if c != nil {
			<-c.Done
		}
	}
}

// stormLoad is the load process: it waits for commands. "join": every
// client connects and joins at once; "reconnect": the first Reconnect
// clients drop their sockets, then reconnect and join at once. Each
// command is answered with a stormResult; EOF closes everything.
func stormLoad(ctx context.Context) error {
	var cfg stormLoadConfig
	if err := harness.LoadConfig(&cfg); err != nil {
		return err
	}
	s := &stormClients{cfg: cfg, client: harness.SourceClient(cfg.Src), conns: make([]*harness.RoomConn, cfg.N)}
	s.hb = harness.StartHeartbeats(ctx, cfg.Vsn, harness.HeartbeatInterval)
	defer s.hb.Stop()
	harness.Emit(map[string]bool{"ready": true})
	for cmd := range harness.Commands() {
		switch cmd {
		case "join":
			harness.Emit(s.storm(ctx, 0, cfg.N))
		case "reconnect":
			s.drop(cfg.Reconnect)
			harness.Emit(s.storm(ctx, 0, cfg.Reconnect))
		}
	}
	for _, c := range s.conns {
		if c != nil {
			c.Ws.CloseNow()
		}
	}
	return nil
}
