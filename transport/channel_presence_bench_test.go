package transport

import (
	"testing"

	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/presence"
)

// presenceBenchSub counts what the hub hands it.
type presenceBenchSub struct {
	kind  int
	bytes int
}

func (s *presenceBenchSub) Kind() int                 { return s.kind }
func (s *presenceBenchSub) Deliver(f broadcast.Frame) { s.bytes += f.Len() }

// BenchmarkPresenceTrackPublish is a track update in a room with 100
// presence subscribers of each serializer: store change, diff encoded once
// per serializer, fan-out.
func BenchmarkPresenceTrackPublish(b *testing.B) {
	s := NewServer(Config{Verifier: auth.NewVerifier(testSecret)})
	room := roomKey(false, "lobby")
	for i := range 200 {
		s.hub.Subscribe(presenceTopic(room), &presenceBenchSub{kind: i % 2})
	}
	var metas [2]presence.Meta
	for i, p := range []string{`{"status":"online","online_at":"2026-08-21T10:11:12.345Z"}`, `{"status":"away","online_at":"2026-08-21T10:11:13.345Z"}`} {
		m, err := presence.ParseMeta([]byte(p))
		if err != nil {
			b.Fatal(err)
		}
		metas[i] = m
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.presence.Track(room, 1, "user-1", metas[i&1])
		i++
	}
}
