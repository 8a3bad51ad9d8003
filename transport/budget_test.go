package transport

import (
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"
)

// Past MaxQueuedBytes over all connections, the one with the longest
// backlog (a client that stopped reading) is closed with 4002, and a
// client that keeps up gets every message.
func TestQueueBudgetShedsTheSlowest(t *testing.T) {
	const messages = 6000
	e := newEnv(t, Config{QueueBytes: 16 << 20, MaxQueuedBytes: 256 << 10, MessagesPerSecond: -1,
		IdleTimeout: time.Hour, WriteTimeout: time.Minute})
	stalled := e.dial(t, phoenix.V2)
	stalled.joinRoom(room, "1", false, false, false)
	healthy := e.dial(t, phoenix.V2)
	healthy.joinRoom(room, "1", false, false, false)
	pub := e.dial(t, phoenix.V2)
	pub.joinRoom(room, "1", false, false, false)

	got := make(chan int, 1)
	go func() {
		n := 0
		for n < messages {
			f, err := healthy.readRaw(30 * time.Second)
			if err != nil {
				break
			}
			if strings.Contains(f.data, `"broadcast"`) {
				n++
			}
		}
		got <- n
	}()
	payload := `{"type":"broadcast","event":"e","payload":{"pad":"` + strings.Repeat("x", 1000) + `"}}`
	// Paced, so that the reading client keeps up and only the stalled
	// one builds a backlog.
	for i := range messages {
		pub.pushText("1", "2", room, payload)
		if i%20 == 19 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if n := <-got; n != messages {
		t.Errorf("the reading client got %d of %d broadcasts", n, messages)
	}
	if code := stalled.closeStatus(30 * time.Second); code != StatusOverloaded {
		t.Errorf("the stalled client was closed with %d, want %d (server overloaded)", code, StatusOverloaded)
	}
	if n := e.s.Stats().Shed; n != 1 {
		t.Errorf("Stats().Shed = %d, want 1", n)
	}
}
