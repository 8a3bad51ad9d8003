package presence

import (
	"fmt"
	"testing"
)

var benchPayload = []byte(`{"user_id":"4b1f0a9e-7c1d-4a7e-9d0b-2f3e6c8a1b55","online_at":"2026-08-21T10:11:12.345Z","status":"online"}`)

func BenchmarkParseMeta(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchPayload)))
	for b.Loop() {
		if _, err := ParseMeta(benchPayload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrack alternates two metas for one member: every call is an
// update (new ref, a two-sided diff) handed to a Sink that encodes it, as
// the transport's does.
func BenchmarkTrack(b *testing.B) {
	var buf []byte
	m := NewMemory(func(_ string, d Diff) { buf = d.AppendJSON(buf[:0]) })
	metas := [2]Meta{meta(b, `{"status":"online"}`), meta(b, `{"status":"away"}`)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Track("public:room", 1, "user-1", metas[i&1])
		i++
	}
}

// BenchmarkTrackUntrack is a member joining and leaving a room that holds
// 100 others.
func BenchmarkTrackUntrack(b *testing.B) {
	m := NewMemory(nil)
	mt := meta(b, string(benchPayload))
	for i := range 100 {
		m.Track("public:room", MemberID(i+1), fmt.Sprintf("user-%d", i), mt)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Track("public:room", 1000, "me", mt)
		m.Untrack("public:room", 1000)
	}
}

func BenchmarkDiffAppendJSON(b *testing.B) {
	mt := meta(b, string(benchPayload))
	d := Diff{
		Joins:  []Entry{{Key: "user-1", Ref: "GHlA1fShRjMmZhnL", PrevRef: "F2mKq9ZrX0bYt7Ws", Meta: mt}},
		Leaves: []Entry{{Key: "user-1", Ref: "F2mKq9ZrX0bYt7Ws", Meta: mt}},
	}
	buf := d.AppendJSON(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = d.AppendJSON(buf[:0])
	}
}

// BenchmarkSync is a join into a room of n members right after a change
// (state encoded) and into a quiet one (state cached).
func BenchmarkSync(b *testing.B) {
	for _, n := range []int{10, 1000} {
		m := NewMemory(nil)
		mt := meta(b, string(benchPayload))
		for i := range n {
			m.Track("public:room", MemberID(i+1), fmt.Sprintf("user-%d", i), mt)
		}
		b.Run(fmt.Sprintf("changed/%d", n), func(b *testing.B) {
			metas := [2]Meta{mt, meta(b, `{"x":1}`)}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				m.Track("public:room", 1, "user-0", metas[i&1])
				i++
				m.Sync("public:room", func([]byte) {})
			}
		})
		b.Run(fmt.Sprintf("cached/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Sync("public:room", func([]byte) {})
			}
		})
	}
}
