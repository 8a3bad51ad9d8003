package broadcast

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// events returns the events of rs, in order.
func events(rs []Retained) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Event)
	}
	return out
}

// retainerAt returns a Retainer whose clock the test moves.
func retainerAt(r Retention, now *time.Time) *Retainer {
	k := NewRetainer(r)
	k.now = func() time.Time { return *now }
	return k
}

func TestRetainer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	user := func(event string, n int) *Envelope {
		return &Envelope{Kind: KindUser, Event: event, Payload: []byte(strings.Repeat("x", n)), JSON: true}
	}
	tests := []struct {
		name  string
		max   Retention
		steps func(k *Retainer, now *time.Time)
		room  string
		since time.Duration // after t0
		limit int
		bytes int
		want  []string
	}{
		{
			name: "a room's broadcasts since a time, oldest first",
			max:  Retention{MaxBytes: 1 << 20},
			steps: func(k *Retainer, now *time.Time) {
				for i := range 5 {
					*now = t0.Add(time.Duration(i) * time.Second)
					k.Keep("private:a", user(fmt.Sprint("a", i), 1))
					k.Keep("private:b", user(fmt.Sprint("b", i), 1))
				}
			},
			room: "private:a", since: 2 * time.Second, limit: 25, bytes: 1 << 20,
			want: []string{"a2", "a3", "a4"},
		},
		{
			name: "the limit keeps the newest",
			max:  Retention{MaxBytes: 1 << 20},
			steps: func(k *Retainer, now *time.Time) {
				for i := range 5 {
					k.Keep("r", user(fmt.Sprint(i), 1))
				}
			},
			room: "r", limit: 2, bytes: 1 << 20,
			want: []string{"3", "4"},
		},
		{
			name: "the byte bound of the node evicts the oldest of any room",
			max:  Retention{MaxBytes: 3 * (retainOverhead + 101)},
			steps: func(k *Retainer, now *time.Time) {
				k.Keep("r", user("1", 100))
				k.Keep("other", user("2", 100))
				k.Keep("r", user("3", 100))
				k.Keep("r", user("4", 100))
			},
			room: "r", limit: 25, bytes: 1 << 20,
			want: []string{"3", "4"},
		},
		{
			name: "the age bound",
			max:  Retention{MaxBytes: 1 << 20, MaxAge: time.Minute},
			steps: func(k *Retainer, now *time.Time) {
				k.Keep("r", user("old", 1))
				*now = t0.Add(50 * time.Second)
				k.Keep("r", user("new", 1))
				*now = t0.Add(90 * time.Second)
			},
			room: "r", limit: 25, bytes: 1 << 20,
			want: []string{"new"},
		},
		{
			name: "the replay's byte bound leaves out the oldest, not the newest",
			max:  Retention{MaxBytes: 1 << 20},
			steps: func(k *Retainer, now *time.Time) {
				k.Keep("r", user("1", 100))
				k.Keep("r", user("2", 100))
				k.Keep("r", user("3", 1000))
			},
			room: "r", limit: 25, bytes: 1200,
			want: []string{"2", "3"},
		},
		{
			name: "too big for the retention, presence diffs, retention off",
			max:  Retention{MaxBytes: 500},
			steps: func(k *Retainer, now *time.Time) {
				k.Keep("r", user("big", 1000))
				k.Keep("r", &Envelope{Kind: KindPresenceDiff, Payload: []byte(`{}`)})
				k.Keep("r", user("small", 10))
			},
			room: "r", limit: 25, bytes: 1 << 20,
			want: []string{"small"},
		},
		{
			name:  "nothing kept with MaxBytes 0",
			max:   Retention{},
			steps: func(k *Retainer, now *time.Time) { k.Keep("r", user("x", 1)) },
			room:  "r", limit: 25, bytes: 1 << 20,
			want: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			k := retainerAt(tc.max, &now)
			tc.steps(k, &now)
			got := k.Since(tc.room, t0.Add(tc.since), tc.limit, tc.bytes)
			if !slices.Equal(events(got), tc.want) {
				t.Errorf("Since = %v, want %v", events(got), tc.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].ID <= got[i-1].ID {
					t.Errorf("ids %d then %d: not increasing", got[i-1].ID, got[i].ID)
				}
			}
			if k.Bytes() > max(tc.max.MaxBytes, 0) {
				t.Errorf("keeps %d bytes, bound %d", k.Bytes(), tc.max.MaxBytes)
			}
		})
	}
}

// The kept copy does not alias the publisher's buffers, which are reused
// (a socket's read buffer).
func TestRetainerCopies(t *testing.T) {
	k := NewRetainer(Retention{MaxBytes: 1 << 20})
	buf := []byte(`{"a":1}`)
	k.Keep("r", &Envelope{Kind: KindUser, Event: "e", Payload: buf, JSON: true})
	copy(buf, `{"b":2}`)
	if got := k.Since("r", time.Time{}, 1, 1<<20); len(got) != 1 || string(got[0].Payload) != `{"a":1}` {
		t.Errorf("kept %+v, want the payload as it was published", got)
	}
}

// Many rooms churning through a small bound: the byte count stays exact
// and every room index empties with the ring.
func TestRetainerEvictsEveryRoom(t *testing.T) {
	k := NewRetainer(Retention{MaxBytes: 10 * (retainOverhead + 10)})
	for i := range 1000 {
		k.Keep(fmt.Sprint("room", i%37), &Envelope{Kind: KindPush, Payload: make([]byte, 10)})
	}
	if k.Bytes() != 10*(retainOverhead+10) {
		t.Errorf("keeps %d bytes, want 10 broadcasts' worth", k.Bytes())
	}
	k.mu.Lock()
	n := 0
	for _, rs := range k.rooms {
		n += len(rs)
	}
	rooms := len(k.rooms)
	k.mu.Unlock()
	if n != 10 || rooms > 10 {
		t.Errorf("room indexes hold %d broadcasts in %d rooms, want the 10 kept", n, rooms)
	}
}
