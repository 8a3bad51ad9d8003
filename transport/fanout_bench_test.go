package transport

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawClient is a client socket that completed the upgrade and joined one
// channel with one postgres_changes binding, then counts the bytes it
// receives.
type rawClient struct {
	nc    net.Conn
	bytes atomic.Int64
}

func dialRaw(t testing.TB, e *testEnv, topic string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET /socket/websocket?vsn=2.0.0&apikey=%s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", token(t, time.Hour))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	payload := []byte(`["1","1","` + topic + `","phx_join",{"config":{"postgres_changes":[{"event":"*","schema":"public"}]}}]`)
	nc.Write(append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...))
	rc := &rawClient{nc: nc}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := br.Read(buf)
			rc.bytes.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return rc
}

// BenchmarkFanOut measures delivering one change to many connections: the
// dispatcher's side (DeliverChange on every channel) plus the writers
// sending it, until every client has received every message.
func BenchmarkFanOut(b *testing.B) {
	for _, conns := range []int{1, 100, 1000} {
		for _, size := range []int{512, 64 << 10} {
			b.Run(fmt.Sprintf("conns=%d/body=%d", conns, size), func(b *testing.B) {
				// The raw clients send nothing after their join: no idle
				// timeout may close them during a long run.
				e := newEnv(b, Config{Logger: slog.New(slog.DiscardHandler), IdleTimeout: time.Hour})
				clients := make([]*rawClient, conns)
				for i := range clients {
					clients[i] = dialRaw(b, e, "realtime:room")
				}
				var chans []*channel
				waitFor(b, "every channel", func() bool {
					chans = chans[:0]
					e.s.mu.Lock()
					for c := range e.s.conns {
						if ch := c.channel("realtime:room"); ch != nil {
							ch.mu.Lock()
							if ch.state == joined {
								chans = append(chans, ch)
							}
							ch.mu.Unlock()
						}
					}
					e.s.mu.Unlock()
					return len(chans) == conns
				})
				data := []byte(`{"pad":"` + strings.Repeat("x", size-10) + `"}`)
				ids := make([][]uint64, conns)
				for i, ch := range chans {
					ids[i] = []uint64{ch.ids[0]}
				}
				// One delivery outside the timer gives the size on the wire.
				time.Sleep(20 * time.Millisecond) // join replies and system messages
				start := make([]int64, conns)
				for i, rc := range clients {
					start[i] = rc.bytes.Load()
				}
				for j, ch := range chans {
					ch.DeliverChange(ids[j], data)
				}
				waitDelivered(b, clients, start, int64(size))
				for last := int64(-1); last != clients[0].bytes.Load(); {
					last = clients[0].bytes.Load()
					time.Sleep(20 * time.Millisecond)
				}
				msgLen := clients[0].bytes.Load() - start[0]
				// Stay well under the queue bound: let the writers catch up
				// every few hundred KiB.
				every := max(1, (256<<10)/size)
				for i, rc := range clients {
					start[i] = rc.bytes.Load()
				}
				b.SetBytes(int64(len(data)) * int64(conns))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for j, ch := range chans {
						ch.DeliverChange(ids[j], data)
					}
					if i%every == every-1 {
						waitDelivered(b, clients, start, int64(i+1)*msgLen)
					}
				}
				waitDelivered(b, clients, start, int64(b.N)*msgLen)
				b.StopTimer()
				if e.s.Stats().SlowConsumers != 0 {
					b.Fatal("a client was closed as a slow consumer")
				}
				b.ReportMetric(float64(b.N)*float64(conns)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

func waitDelivered(b *testing.B, clients []*rawClient, start []int64, want int64) {
	deadline := time.Now().Add(60 * time.Second)
	for i, rc := range clients {
		for rc.bytes.Load()-start[i] < want {
			if time.Now().After(deadline) {
				b.Fatalf("client %d got %d bytes, want %d", i, rc.bytes.Load()-start[i], want)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}
