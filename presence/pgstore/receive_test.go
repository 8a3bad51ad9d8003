package pgstore

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/walcast/walcast/cluster"
	"github.com/walcast/walcast/presence"
	"github.com/walcast/walcast/replication"
)

func newTestStore(t *testing.T) (*Store, *[]string) {
	t.Helper()
	node, err := cluster.New(cluster.Config{ID: "self"})
	if err != nil {
		t.Fatal(err)
	}
	var diffs []string
	s := New(Config{Node: node}, func(room string, d presence.Diff) {
		diffs = append(diffs, room+" "+string(d.AppendJSON(nil)))
	})
	return s, &diffs
}

func put(room string, member int64, key, ref, meta string) wireOp {
	return wireOp{Room: room, Member: member, Key: key, Ref: ref, Meta: json.RawMessage(meta)}
}

func leave(room string, member int64) wireOp { return wireOp{Room: room, Member: member, Leave: true} }

func send(t *testing.T, s *Store, b batch) {
	t.Helper()
	content, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.HandleMessage(context.Background(), &replication.LogicalMessage{Prefix: MessagePrefix, Content: content}); err != nil {
		t.Fatal(err)
	}
}

func TestHandleMessage(t *testing.T) {
	type step struct {
		batch *batch
		dead  *cluster.Incarnation
		raw   string // a malformed message
	}
	b := func(node string, inc, seq int64, ops ...wireOp) step {
		return step{batch: &batch{Node: node, Inc: inc, Seq: seq, Ops: ops}}
	}
	tests := []struct {
		name      string
		steps     []step
		wantState map[string]string
		wantDiffs int
	}{
		{
			name:      "batches in order, refs kept",
			steps:     []step{b("n2", 1, 1, put("r", 1, "a", "refA", `{"x":1}`)), b("n2", 1, 2, put("r", 2, "b", "refB", `{}`))},
			wantState: map[string]string{"r": `{"a":{"metas":[{"phx_ref":"refA","x":1}]},"b":{"metas":[{"phx_ref":"refB"}]}}`},
			wantDiffs: 2,
		},
		{
			name:      "a repeated batch is skipped",
			steps:     []step{b("n2", 1, 1, put("r", 1, "a", "refA", `{}`)), b("n2", 1, 1, leave("r", 1))},
			wantState: map[string]string{"r": `{"a":{"metas":[{"phx_ref":"refA"}]}}`},
			wantDiffs: 1,
		},
		{
			name:      "a batch past a gap waits for the missing one",
			steps:     []step{b("n2", 1, 1, put("r", 1, "a", "refA", `{}`)), b("n2", 1, 3, leave("r", 1)), b("n2", 1, 2, put("r", 1, "a", "refA2", `{"v":2}`))},
			wantState: map[string]string{"r": `{}`},
			wantDiffs: 3,
		},
		{
			name:      "this node's own batches are skipped",
			steps:     []step{b("self", 1, 1, put("r", 1, "a", "refA", `{}`))},
			wantState: map[string]string{"r": `{}`},
		},
		{
			name: "a dead incarnation leaves in one diff per room, and stays dead",
			steps: []step{
				b("n2", 1, 1, put("r", 1, "a", "refA", `{}`), put("r", 2, "b", "refB", `{}`), put("q", 1, "a", "refQ", `{}`)),
				b("n3", 5, 1, put("r", 1, "c", "refC", `{}`)),
				{dead: &cluster.Incarnation{Node: "n2", N: 1}},
				b("n2", 1, 2, put("r", 3, "z", "refZ", `{}`)),
			},
			wantState: map[string]string{"r": `{"c":{"metas":[{"phx_ref":"refC"}]}}`, "q": `{}`},
			wantDiffs: 2 + 1 + 2, // joins in r and q, n3's join, one leave per room
		},
		{
			name: "a newer incarnation of a node supersedes the older ones",
			steps: []step{
				b("n2", 3, 1, put("r", 1, "a", "refA", `{}`)),
				b("n2", 5, 1, put("r", 1, "a", "refA", `{}`)),
				b("n2", 3, 2, put("r", 2, "z", "refZ", `{}`)),
			},
			wantState: map[string]string{"r": `{"a":{"metas":[{"phx_ref":"refA"}]}}`},
			wantDiffs: 3, // the join, the old one's leave, the new one's join
		},
		{
			name:      "malformed messages are skipped",
			steps:     []step{{raw: `{"n":`}, {raw: `{"n":"n2","i":1,"s":0}`}, b("n2", 1, 1, put("r", 1, "a", "refA", `[1]`))},
			wantState: map[string]string{"r": `{}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, diffs := newTestStore(t)
			for _, st := range tc.steps {
				switch {
				case st.batch != nil:
					send(t, s, *st.batch)
				case st.dead != nil:
					s.Dead(*st.dead)
				default:
					s.HandleMessage(context.Background(), &replication.LogicalMessage{Prefix: MessagePrefix, Content: []byte(st.raw)})
				}
			}
			for room, want := range tc.wantState {
				if got := string(s.State(room)); got != want {
					t.Errorf("state of %s\n got %s\nwant %s", room, got, want)
				}
			}
			if len(*diffs) != tc.wantDiffs {
				t.Errorf("%d diffs, want %d:\n%s", len(*diffs), tc.wantDiffs, strings.Join(*diffs, "\n"))
			}
		})
	}
}

// Many deaths of one node id leave one entry in the dead set, and it
// still covers every incarnation up to the last dead one; a later
// incarnation is alive.
func TestDeadSetKeepsOneEntryPerNode(t *testing.T) {
	s, _ := newTestStore(t)
	for n := int64(1); n <= 1000; n++ {
		s.Dead(cluster.Incarnation{Node: "n2", N: n})
	}
	s.Dead(cluster.Incarnation{Node: "n2", N: 10}) // a late, older death
	s.Dead(cluster.Incarnation{Node: "n3", N: 4})
	if len(s.dead) != 2 {
		t.Fatalf("dead set holds %d entries, want 2 (one per node id): %v", len(s.dead), s.dead)
	}
	send(t, s, batch{Node: "n2", Inc: 500, Seq: 1, Ops: []wireOp{put("r", 1, "old", "ref1", `{}`)}})
	send(t, s, batch{Node: "n3", Inc: 2, Seq: 1, Ops: []wireOp{put("r", 1, "older", "ref2", `{}`)}})
	send(t, s, batch{Node: "n2", Inc: 1001, Seq: 1, Ops: []wireOp{put("r", 1, "new", "ref3", `{}`)}})
	if got, want := string(s.State("r")), `{"new":{"metas":[{"phx_ref":"ref3"}]}}`; got != want {
		t.Errorf("state\n got %s\nwant %s", got, want)
	}
}

// Local changes are queued for the writer, a member changed twice once.
func TestTrackQueuesWrites(t *testing.T) {
	s, _ := newTestStore(t)
	m := s.NewMember()
	meta, _ := presence.ParseMeta([]byte(`{"v":1}`))
	s.Track("r", m, "k", meta)
	meta2, _ := presence.ParseMeta([]byte(`{"v":2}`))
	d, _ := s.Track("r", m, "k", meta2)
	other := s.NewMember()
	s.Track("r", other, "o", presence.Meta{})
	s.Untrack("r", other)
	if len(s.pending) != 2 {
		t.Fatalf("pending %v, want two members", s.pending)
	}
	if op := s.pending[memberKey{"r", int64(m)}]; op.leave || op.entry != d.Joins[0] {
		t.Errorf("pending for the tracked member: %+v, want its latest entry %+v", op, d.Joins[0])
	}
	if op := s.pending[memberKey{"r", int64(other)}]; !op.leave {
		t.Errorf("pending for the untracked member: %+v, want a leave", op)
	}
	if len(s.local) != 1 {
		t.Errorf("local %v, want one member", s.local)
	}
}

// Found dead, the store writes every local member again, as it is.
func TestReincarnatedRewritesMembers(t *testing.T) {
	s, _ := newTestStore(t)
	a, b := s.NewMember(), s.NewMember()
	da, _ := s.Track("r", a, "a", presence.Meta{})
	db, _ := s.Track("q", b, "b", presence.Meta{})
	s.pending = make(map[memberKey]op) // as if written
	s.Reincarnated(7)
	want := map[memberKey]op{{"r", int64(a)}: {entry: da.Joins[0]}, {"q", int64(b)}: {entry: db.Joins[0]}}
	if len(s.pending) != len(want) {
		t.Fatalf("pending %v, want %v", s.pending, want)
	}
	for k, o := range want {
		if s.pending[k] != o {
			t.Errorf("pending[%v] = %+v, want %+v", k, s.pending[k], o)
		}
	}
}
