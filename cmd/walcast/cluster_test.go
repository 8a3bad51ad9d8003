// The cluster tests pause and resume node processes with SIGSTOP and
// SIGCONT, which exist only on Unix.

//go:build unix

package main

import (
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/internal/pgtest"
	"github.com/walcast/walcast/phoenix"
)

var (
	senderField = regexp.MustCompile(`"f":\s*"([^"]+)"`)
	seqField    = regexp.MustCompile(`"s":\s*(\d+)`)
)

// received returns, per sender, the sequence numbers of the broadcasts a
// subscriber received, in order of arrival.
func received(frames []wsFrame) map[string][]int {
	got := map[string][]int{}
	for _, f := range frames {
		s, n := senderField.FindSubmatch(f.data), seqField.FindSubmatch(f.data)
		if s == nil || n == nil {
			continue
		}
		i, _ := strconv.Atoi(string(n[1]))
		got[string(s[1])] = append(got[string(s[1])], i)
	}
	return got
}

func count(got map[string][]int) (n int) {
	for _, s := range got {
		n += len(s)
	}
	return n
}

func restPublish(t *testing.T, addr, topic, event, body string) {
	t.Helper()
	tok, _ := auth.Sign([]byte(clusterSecret), map[string]any{"role": "service_role", "exp": time.Now().Add(time.Hour).Unix()})
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/broadcast/"+topic+"/events/"+event, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("REST publish: %s", resp.Status)
	}
}

// A broadcast published on any node (a client's text or binary push, REST,
// realtime.send, realtime.broadcast_changes) reaches every subscriber on every node exactly once, in
// the order its sender published, whatever the subscriber's serializer.
func TestClusterBroadcast(t *testing.T) { eachRelay(t, testClusterBroadcast) }

func testClusterBroadcast(t *testing.T) {
	url := pgtest.NewDatabase(t)
	nodes := []*nodeProc{startNode(t, url, "n1"), startNode(t, url, "n2"), startNode(t, url, "n3")}
	// The private topic is readable by anon, as a Supabase policy would
	// make it (the nodes' migrations created realtime.messages).
	execDB(t, url, `CREATE POLICY "anon reads priv" ON realtime.messages FOR SELECT TO anon USING (realtime.topic() = 'priv')`)
	const topic = "realtime:room"
	var subs []*wsClient
	for _, n := range nodes {
		for _, vsn := range []string{"1.0.0", "2.0.0"} {
			c := dialNode(t, n.addr, vsn)
			c.join(topic, "1", `{"config":{"broadcast":{"self":true}}}`)
			c.join("realtime:priv", "2", `{"config":{"private":true}}`)
			subs = append(subs, c)
		}
	}
	// One sender per node: v2 ones alternate text and binary pushes, the
	// v1 one sends text.
	senderVsn := []string{"2.0.0", "1.0.0", "2.0.0"}
	var senders []*wsClient
	for i, n := range nodes {
		c := dialNode(t, n.addr, senderVsn[i])
		c.join(topic, "1", `{"config":{"broadcast":{"self":false}}}`)
		senders = append(senders, c)
	}
	execDB(t, url, `CREATE TABLE items (id serial PRIMARY KEY, f text, s int);
CREATE FUNCTION items_broadcast() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM realtime.broadcast_changes('priv', TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, OLD);
    RETURN NULL;
END $$;
CREATE TRIGGER items_broadcast AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_broadcast()`)
	const perSender, rest, db = 60, 10, 10
	for k := 1; k <= perSender; k++ {
		for i, c := range senders {
			payload := fmt.Sprintf(`{"f":"s%d","s":%d}`, i+1, k)
			if c.vsn == "2.0.0" && k%2 == 0 {
				c.write(websocket.MessageBinary, phoenix.AppendBroadcastPush(nil, "1", strconv.Itoa(k+1), topic, "bin", nil, true, []byte(payload)))
				continue
			}
			c.push("1", strconv.Itoa(k+1), topic, "broadcast", `{"type":"broadcast","event":"txt","payload":`+payload+`}`)
		}
	}
	for k := 1; k <= rest; k++ {
		restPublish(t, nodes[1].addr, "room", "rest", fmt.Sprintf(`{"f":"rest","s":%d}`, k))
	}
	for k := 1; k <= db; k++ {
		queryDB(t, url, "SELECT realtime.send(jsonb_build_object('f', 'db', 's', $1::int), 'db', 'room', false)::text", k)
	}
	for k := 1; k <= db; k++ {
		queryDB(t, url, "INSERT INTO items (f, s) VALUES ('bc', $1)", k)
	}
	want := 3*perSender + rest + 2*db
	for i, c := range subs {
		c.waitFor(fmt.Sprintf("subscriber %d (node %d, vsn %s)", i, i/2+1, c.vsn), 30*time.Second, func(fs []wsFrame) bool {
			return count(received(fs)) >= want
		})
	}
	// Whatever would arrive twice has had time to.
	senders[0].push("1", "hb", "phoenix", "heartbeat", `{}`)
	senders[0].waitReply("hb")
	time.Sleep(500 * time.Millisecond)
	expect := map[string]int{"s1": perSender, "s2": perSender, "s3": perSender, "rest": rest, "db": db, "bc": db}
	for i, c := range subs {
		got := received(c.snapshot())
		for sender, n := range expect {
			seq := got[sender]
			if len(seq) != n || !slices.IsSorted(seq) || seq[0] != 1 || seq[n-1] != n {
				t.Errorf("subscriber %d (node %d, vsn %s) got from %s %v; want 1..%d once each, in order", i, i/2+1, c.vsn, sender, seq, n)
			}
		}
		binary := 0
		for _, f := range c.snapshot() {
			if f.binary {
				binary++
			}
		}
		// vsn 2.0.0 gets the binary pushes of the two v2 senders as binary
		// frames (and REST's JSON too), vsn 1.0.0 gets only text.
		if wantBinary := c.vsn == "2.0.0"; (binary > 0) != wantBinary {
			t.Errorf("subscriber %d (vsn %s) got %d binary frames", i, c.vsn, binary)
		}
	}
	// The relay wrote nothing twice and carried no database broadcast:
	// database broadcasts reach each node through its own slot.
	for _, n := range nodes {
		for _, l := range n.log() {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				t.Errorf("node %s: %s", n.id, l)
			}
		}
	}
}

// presenceTopic is the room of the presence tests.
const presenceTopic = "realtime:p"

// joinPresence joins presenceTopic with presence enabled under key.
func joinPresence(c *wsClient, key string) {
	c.join(presenceTopic, "1", fmt.Sprintf(`{"config":{"presence":{"enabled":true,"key":%q}}}`, key))
}

func track(c *wsClient, ref, meta string) {
	c.t.Helper()
	c.push("1", ref, presenceTopic, "presence", `{"type":"presence","event":"track","payload":`+meta+`}`)
	c.waitReply(ref)
}

// converge waits until every watcher shows exactly want (key and meta per
// ref, refs equal everywhere) and returns how long it took.
func converge(t *testing.T, what string, watchers []*wsClient, want []string) time.Duration {
	t.Helper()
	start := time.Now()
	slices.Sort(want)
	var first map[string]string
	for i, w := range watchers {
		w.waitFor(fmt.Sprintf("%s: watcher %d converges on %v", what, i, want), 10*time.Second, func([]wsFrame) bool {
			view := w.presenceView(presenceTopic)
			got := slices.Sorted(maps.Values(view))
			if !slices.Equal(got, want) {
				return false
			}
			if first == nil {
				first = view
			}
			return maps.Equal(view, first)
		})
	}
	took := time.Since(start)
	t.Logf("%s: every node shows the same presence after %v", what, took.Round(time.Millisecond))
	return took
}

// Presence is the same on every node after joins, updates and leaves,
// whichever node each member is on.
func TestClusterPresence(t *testing.T) { eachRelay(t, testClusterPresence) }

func testClusterPresence(t *testing.T) {
	url := pgtest.NewDatabase(t)
	nodes := []*nodeProc{startNode(t, url, "n1"), startNode(t, url, "n2"), startNode(t, url, "n3")}
	var watchers []*wsClient
	for i, n := range nodes {
		w := dialNode(t, n.addr, []string{"1.0.0", "2.0.0", "2.0.0"}[i])
		joinPresence(w, "")
		watchers = append(watchers, w)
	}
	alice, bob, carol := dialNode(t, nodes[0].addr, "1.0.0"), dialNode(t, nodes[1].addr, "2.0.0"), dialNode(t, nodes[2].addr, "1.0.0")
	joinPresence(alice, "alice")
	joinPresence(bob, "bob")
	joinPresence(carol, "carol")

	track(alice, "2", `{"n":1}`)
	track(bob, "2", `{"n":1}`)
	track(carol, "2", `{"n":1}`)
	converge(t, "three joins", watchers, []string{`alice {"n":1}`, `bob {"n":1}`, `carol {"n":1}`})

	track(alice, "3", `{"n":2}`)
	converge(t, "an update", watchers, []string{`alice {"n":2}`, `bob {"n":1}`, `carol {"n":1}`})

	bob.push("1", "4", presenceTopic, "presence", `{"type":"presence","event":"untrack"}`)
	bob.waitReply("4")
	converge(t, "an untrack", watchers, []string{`alice {"n":2}`, `carol {"n":1}`})

	carol.push("1", "5", presenceTopic, "phx_leave", `{}`)
	carol.waitReply("5")
	converge(t, "a leave", watchers, []string{`alice {"n":2}`})

	// A newcomer on any node gets the same state.
	late := dialNode(t, nodes[2].addr, "2.0.0")
	joinPresence(late, "")
	converge(t, "a newcomer", []*wsClient{late}, []string{`alice {"n":2}`})
	if got := queryDB(t, url, "SELECT count(*) FROM realtime.walcast_presence"); got[0] != "1" {
		t.Errorf("realtime.walcast_presence holds %s rows, want 1", got[0])
	}
}

// diffsWithLeaves returns the presence_diff payloads with leaves.
func diffsWithLeaves(c *wsClient) []string {
	var out []string
	for _, f := range c.snapshot() {
		if m, ok := c.decode(f); ok && m.Event == "presence_diff" && !strings.Contains(string(m.Payload), `"leaves":{}`) {
			out = append(out, string(m.Payload))
		}
	}
	return out
}

// kill -9 of a node: its members leave on the others (one diff), its
// client rejoins elsewhere, broadcasts between the survivors go on, and
// its slot is dropped after the slot TTL.
func TestClusterNodeDeath(t *testing.T) { eachRelay(t, testClusterNodeDeath) }

func testClusterNodeDeath(t *testing.T) {
	url := pgtest.NewDatabase(t)
	nodes := []*nodeProc{startNode(t, url, "n1"), startNode(t, url, "n2"), startNode(t, url, "n3")}
	w1, w2 := dialNode(t, nodes[0].addr, "1.0.0"), dialNode(t, nodes[1].addr, "2.0.0")
	joinPresence(w1, "")
	joinPresence(w2, "")
	a, b := dialNode(t, nodes[0].addr, "2.0.0"), dialNode(t, nodes[1].addr, "1.0.0")
	c1, c2 := dialNode(t, nodes[2].addr, "2.0.0"), dialNode(t, nodes[2].addr, "1.0.0")
	for _, m := range []struct {
		c   *wsClient
		key string
	}{{a, "a"}, {b, "b"}, {c1, "c1"}, {c2, "c2"}} {
		joinPresence(m.c, m.key)
		track(m.c, "2", `{}`)
	}
	converge(t, "four members", []*wsClient{w1, w2}, []string{"a {}", "b {}", "c1 {}", "c2 {}"})
	leavesBefore := len(diffsWithLeaves(w1))

	killed := time.Now()
	nodes[2].cmd.Process.Signal(syscall.SIGKILL)
	took := converge(t, "a node killed", []*wsClient{w1, w2}, []string{"a {}", "b {}"})
	t.Logf("death detected and its members gone after %v (node TTL 1s, heartbeat 200ms)", time.Since(killed).Round(time.Millisecond))
	_ = took
	for i, w := range []*wsClient{w1, w2} {
		if d := diffsWithLeaves(w)[leavesBefore:]; len(d) != 1 || !strings.Contains(d[0], `"c1"`) || !strings.Contains(d[0], `"c2"`) {
			t.Errorf("watcher %d: leaves after the kill %v; want one diff with c1 and c2", i, d)
		}
	}

	// The dead node's client reconnects to a survivor and rejoins.
	c1 = dialNode(t, nodes[0].addr, "2.0.0")
	joinPresence(c1, "c1")
	track(c1, "2", `{}`)
	converge(t, "a rejoin on a survivor", []*wsClient{w1, w2}, []string{"a {}", "b {}", "c1 {}"})

	// Broadcast between the survivors is undisturbed.
	bc := dialNode(t, nodes[1].addr, "2.0.0")
	bc.join("realtime:after", "1", `{}`)
	restPublish(t, nodes[0].addr, "after", "e", `{"f":"after","s":1}`)
	bc.waitFor("a broadcast after the death", 10*time.Second, func(fs []wsFrame) bool { return len(received(fs)["after"]) == 1 })

	// The slot goes after the slot TTL (3s).
	deadline := time.Now().Add(30 * time.Second)
	for slices.Contains(queryDB(t, url, "SELECT slot_name FROM pg_replication_slots"), "walcast_n3") {
		if time.Now().After(deadline) {
			t.Fatal("the dead node's slot walcast_n3 is still there 30s after its death (slot TTL 3s)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("dead node's slot dropped %v after the kill (slot TTL 3s)", time.Since(killed).Round(time.Millisecond))
	// The survivor logs the drop once Postgres has answered, which may be
	// a moment after the slot is gone from pg_replication_slots.
	loggedDrop := func() bool {
		for _, n := range nodes[:2] {
			for _, l := range n.log() {
				if strings.Contains(l, "dropped the slot of a dead node") && strings.Contains(l, "slot=walcast_n3") {
					return true
				}
			}
		}
		return false
	}
	for logDeadline := time.Now().Add(5 * time.Second); !loggedDrop(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(logDeadline) {
			t.Error("no survivor logged dropping walcast_n3 within 5s of the slot's going")
			break
		}
	}
	if got := queryDB(t, url, "SELECT node_id FROM realtime.walcast_nodes ORDER BY 1"); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Errorf("registry holds %v, want [n1 n2]", got)
	}
}

// A node paused past the TTL is declared dead; resumed, it tracks its
// members again under a new incarnation, with the refs they had.
func TestClusterPausedNode(t *testing.T) { eachRelay(t, testClusterPausedNode) }

func testClusterPausedNode(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n1, n2 := startNode(t, url, "n1"), startNode(t, url, "n2")
	w1, w2 := dialNode(t, n1.addr, "2.0.0"), dialNode(t, n2.addr, "1.0.0")
	joinPresence(w1, "")
	joinPresence(w2, "")
	a, b := dialNode(t, n1.addr, "1.0.0"), dialNode(t, n2.addr, "2.0.0")
	joinPresence(a, "a")
	track(a, "2", `{}`)
	joinPresence(b, "b")
	track(b, "2", `{"x":1}`)
	converge(t, "two members", []*wsClient{w1, w2}, []string{"a {}", `b {"x":1}`})
	before := w1.presenceView(presenceTopic)
	incBefore := queryDB(t, url, "SELECT incarnation FROM realtime.walcast_nodes WHERE node_id = 'n2'")

	n2.cmd.Process.Signal(syscall.SIGSTOP)
	converge(t, "n2 paused past the TTL", []*wsClient{w1}, []string{"a {}"})
	time.Sleep(time.Second) // well past the TTL
	n2.cmd.Process.Signal(syscall.SIGCONT)
	n2.waitLog(regexp.MustCompile(`the cluster declared this node dead`), 10*time.Second)
	converge(t, "n2 resumed", []*wsClient{w1, w2}, []string{"a {}", `b {"x":1}`})
	if after := w1.presenceView(presenceTopic); !maps.Equal(after, before) {
		t.Errorf("after the pause n1 shows %v, before %v: refs changed", after, before)
	}
	// n2's own clients never saw their member leave.
	if d := diffsWithLeaves(w2); len(d) != 0 {
		t.Errorf("n2's watcher got leaves %v", d)
	}
	incAfter := queryDB(t, url, "SELECT incarnation FROM realtime.walcast_nodes WHERE node_id = 'n2'")
	if incAfter[0] == incBefore[0] {
		t.Errorf("n2 still has incarnation %s", incAfter[0])
	}
	if got := queryDB(t, url, "SELECT incarnation FROM realtime.walcast_presence WHERE node_id = 'n2'"); !slices.Equal(got, incAfter) {
		t.Errorf("n2's rows are under incarnations %v, want %v", got, incAfter)
	}
}

// A node restarted under the same id resumes its slot, and its members
// left when it stopped.
func TestClusterRestartResumesSlot(t *testing.T) { eachRelay(t, testClusterRestartResumesSlot) }

func testClusterRestartResumesSlot(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n1, n2 := startNode(t, url, "n1"), startNode(t, url, "n2")
	w1 := dialNode(t, n1.addr, "2.0.0")
	joinPresence(w1, "")
	b := dialNode(t, n2.addr, "2.0.0")
	joinPresence(b, "b")
	track(b, "2", `{}`)
	converge(t, "a member on n2", []*wsClient{w1}, []string{"b {}"})
	slotsBefore := queryDB(t, url, "SELECT slot_name FROM pg_replication_slots ORDER BY 1")

	n2.stop()
	converge(t, "n2 stopped", []*wsClient{w1}, []string{})
	n2 = startNode(t, url, "n2")
	for _, l := range n2.log() {
		if strings.Contains(l, "created replication slot") {
			t.Errorf("restarted node created its slot again: %s", l)
		}
	}
	n2.waitLog(regexp.MustCompile(`msg=streaming component=replication slot=walcast_n2 `), 10*time.Second)
	if after := queryDB(t, url, "SELECT slot_name FROM pg_replication_slots ORDER BY 1"); !slices.Equal(after, slotsBefore) {
		t.Errorf("slots %v after the restart, %v before", after, slotsBefore)
	}
	// And it relays again.
	sub := dialNode(t, n2.addr, "1.0.0")
	sub.join("realtime:r", "1", `{}`)
	restPublish(t, n1.addr, "r", "e", `{"f":"x","s":1}`)
	sub.waitFor("a broadcast from n1", 10*time.Second, func(fs []wsFrame) bool { return len(received(fs)["x"]) == 1 })
}

// A node that starts after the others reads their members from Postgres,
// then follows their changes.
func TestClusterLateNode(t *testing.T) { eachRelay(t, testClusterLateNode) }

func testClusterLateNode(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n1 := startNode(t, url, "n1")
	a := dialNode(t, n1.addr, "2.0.0")
	joinPresence(a, "a")
	for i := range 3 { // several batches (under the 5 presence pushes a channel may make per 30 s), so the late node starts past a gap
		track(a, strconv.Itoa(i+2), fmt.Sprintf(`{"v":%d}`, i))
	}
	w1 := dialNode(t, n1.addr, "2.0.0")
	joinPresence(w1, "")
	n2 := startNode(t, url, "n2")
	w2 := dialNode(t, n2.addr, "1.0.0")
	joinPresence(w2, "")
	converge(t, "a late node", []*wsClient{w1, w2}, []string{`a {"v":2}`})
	track(a, "9", `{"v":3}`)
	converge(t, "a change after", []*wsClient{w1, w2}, []string{`a {"v":3}`})
}

// When the registry and presence tables are emptied (what crash recovery
// does to unlogged tables), every node registers again and writes its
// members again, and the views end as they were: no member lost, none
// shown twice.
func TestClusterTablesLost(t *testing.T) { eachRelay(t, testClusterTablesLost) }

func testClusterTablesLost(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n1, n2 := startNode(t, url, "n1"), startNode(t, url, "n2")
	w1, w2 := dialNode(t, n1.addr, "2.0.0"), dialNode(t, n2.addr, "1.0.0")
	joinPresence(w1, "")
	joinPresence(w2, "")
	a, b := dialNode(t, n1.addr, "1.0.0"), dialNode(t, n2.addr, "2.0.0")
	joinPresence(a, "a")
	track(a, "2", `{}`)
	joinPresence(b, "b")
	track(b, "2", `{}`)
	converge(t, "two members", []*wsClient{w1, w2}, []string{"a {}", "b {}"})

	execDB(t, url, "TRUNCATE realtime.walcast_nodes, realtime.walcast_presence, realtime.walcast_presence_seq")
	n1.waitLog(regexp.MustCompile(`the cluster declared this node dead`), 10*time.Second)
	n2.waitLog(regexp.MustCompile(`the cluster declared this node dead`), 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := queryDB(t, url, "SELECT node_id || '/' || key FROM realtime.walcast_presence p JOIN realtime.walcast_nodes n USING (node_id, incarnation) ORDER BY 1")
		if slices.Equal(rows, []string{"n1/a", "n2/b"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence rows %v, want n1/a and n2/b under the nodes' new incarnations", rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
	converge(t, "tables lost", []*wsClient{w1, w2}, []string{"a {}", "b {}"})
	track(b, "3", `{"v":2}`)
	converge(t, "a change after", []*wsClient{w1, w2}, []string{"a {}", `b {"v":2}`})
	// A newcomer's state lists each meta once (a client keyed by ref, as
	// the watchers are, would not notice a meta held twice).
	for _, n := range []*nodeProc{n1, n2} {
		c := dialNode(t, n.addr, "2.0.0")
		joinPresence(c, "")
		c.waitFor("presence_state", 10*time.Second, func(fs []wsFrame) bool {
			for _, f := range fs {
				if m, ok := c.decode(f); ok && m.Event == "presence_state" {
					if got := strings.Count(string(m.Payload), "phx_ref\""); got != 2 {
						t.Errorf("node %s: presence_state %s holds %d metas, want 2", n.id, m.Payload, got)
					}
					return true
				}
			}
			return false
		})
	}
}

// After Postgres restarts, the nodes reconnect and go on relaying and
// sharing presence. (Broadcasts published while it is down reach only the
// sender's node: the relay is at most once.)
func TestClusterPostgresRestart(t *testing.T) { eachRelay(t, testClusterPostgresRestart) }

func testClusterPostgresRestart(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n1, n2 := startNode(t, url, "n1"), startNode(t, url, "n2")
	w2 := dialNode(t, n2.addr, "2.0.0")
	joinPresence(w2, "")
	sub := dialNode(t, n2.addr, "1.0.0")
	sub.join("realtime:r", "1", `{}`)
	a := dialNode(t, n1.addr, "2.0.0")
	joinPresence(a, "a")
	track(a, "2", `{}`)
	converge(t, "a member", []*wsClient{w2}, []string{"a {}"})

	pgtest.Restart(t)
	// Publish until one gets through: the nodes' streams come back after
	// their reconnect backoff.
	deadline := time.Now().Add(60 * time.Second)
	for k := 1; len(received(sub.snapshot())["after"]) == 0; k++ {
		if time.Now().After(deadline) {
			t.Fatal("no broadcast from n1 reached n2 within 60s of the restart")
		}
		restPublishQuiet(n1.addr, "r", "e", fmt.Sprintf(`{"f":"after","s":%d}`, k))
		time.Sleep(200 * time.Millisecond)
	}
	track(a, "3", `{"v":2}`)
	converge(t, "a change after the restart", []*wsClient{w2}, []string{`a {"v":2}`})
}

// restPublishQuiet publishes, ignoring failures (the node may be
// reconnecting).
func restPublishQuiet(addr, topic, event, body string) {
	tok, _ := auth.Sign([]byte(clusterSecret), map[string]any{"role": "service_role", "exp": time.Now().Add(time.Hour).Unix()})
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/broadcast/"+topic+"/events/"+event, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// A second node started with a running node's id is refused with a clear
// message (the two would share one slot); a node restarted with the id of
// one that just stopped starts.
func TestClusterDuplicateNodeID(t *testing.T) { eachRelay(t, testClusterDuplicateNodeID) }

func testClusterDuplicateNodeID(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n1 := startNode(t, url, "dup")
	args := append([]string{"serve", "--database-url", url, "--jwt-secret", clusterSecret, "--node-id", "dup",
		"--host", "127.0.0.1", "--port", "0", "--data-dir", t.TempDir()}, clusterTimings...)
	out, err := exec.Command(binary, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `another walcast runs with node id "dup"`) {
		t.Fatalf("second node with a running node's id: %v\n%s", err, out)
	}
	n1.cmd.Process.Signal(syscall.SIGTERM)
	<-n1.done
	startNode(t, url, "dup") // the slot's walsender may linger a moment: waited for
}

// A node stopped gracefully deletes its registration: the others stop
// counting it at once, not after the TTL. Its slot stays in the ledger,
// and a survivor drops it after the slot TTL.
func TestClusterGracefulStopLeaves(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n1, n2 := startNode(t, url, "n1"), startNode(t, url, "n2")
	n2.stop()
	if alive := queryDB(t, url, "SELECT node_id FROM realtime.walcast_nodes WHERE node_id = 'n2' AND dead_at IS NULL"); len(alive) != 0 {
		t.Fatalf("n2 is still registered alive right after its graceful stop: %v", alive)
	}
	n1.waitLog(regexp.MustCompile(`msg="dropped the slot of a dead node".* dead_node=n2 `), 15*time.Second)
	waitSlotsAndLedger(t, url, []string{"walcast_n1"})
}

// After a crash of Postgres the unlogged registry is empty (here: it is
// truncated, which is what crash recovery does to an unlogged table): the
// slot of a node that died before it is found through the slot ledger and
// dropped after the slot TTL; the survivor's own slot stays.
func TestClusterSlotsOfNodesDeadBeforeACrash(t *testing.T) {
	url := pgtest.NewDatabase(t)
	n1, n2 := startNode(t, url, "n1"), startNode(t, url, "n2")
	n2.cmd.Process.Signal(syscall.SIGKILL)
	<-n2.done
	execDB(t, url, "TRUNCATE realtime.walcast_nodes, realtime.walcast_presence, realtime.walcast_presence_seq")
	n1.waitLog(regexp.MustCompile(`msg="a slot whose node is not registered.* dead_node=n2 `), 10*time.Second)
	n1.waitLog(regexp.MustCompile(`msg="dropped the slot of a dead node".* dead_node=n2 `), 15*time.Second)
	waitSlotsAndLedger(t, url, []string{"walcast_n1"})
}

// waitSlotsAndLedger waits until the database's slots and the slot ledger
// both hold exactly want.
func waitSlotsAndLedger(t *testing.T, url string, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		slots := queryDB(t, url, "SELECT slot_name FROM pg_replication_slots WHERE database = current_database() ORDER BY 1")
		ledger := queryDB(t, url, "SELECT slot FROM realtime.walcast_slots ORDER BY 1")
		if slices.Equal(slots, want) && slices.Equal(ledger, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots %v, ledger %v; want %v", slots, ledger, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
