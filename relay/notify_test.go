package relay

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/internal/pgtest"
)

func envelopeN(i, pad int) broadcast.Envelope {
	return broadcast.Envelope{Topic: "room", Kind: broadcast.KindUser, Event: "e", JSON: true,
		Payload: fmt.Appendf(nil, `{"i":%d,"pad":"%s"}`, i, bytes.Repeat([]byte("p"), pad)), Sender: broadcast.Sender{Node: "b"}}
}

// batchNotifications makes the notifications of one batch of b's, holding
// the envelopes numbered in is.
func batchNotifications(sender *Relay, pad int, is ...int) []string {
	batch := appendHeader(nil, sender.cfg.Node)
	for _, i := range is {
		e := envelopeN(i, pad)
		batch = appendEnvelope(batch, &e)
	}
	return sender.notifications(batch)
}

// The listener reassembles batches of any size, skips duplicates, drops
// what follows a gap until the next batch starts, and starts over when the
// sender restarts (new epoch, sequence numbers from zero).
func TestNotificationReassembly(t *testing.T) {
	payloadIs := func(rec *recorder) (is []int) {
		for _, e := range rec.envelopes() {
			var i int
			fmt.Sscanf(string(e.Payload), `{"i":%d`, &i)
			is = append(is, i)
		}
		return is
	}
	t.Run("in order, with duplicates", func(t *testing.T) {
		rec := newRecorder()
		a, b := New(Config{Node: "a"}), New(Config{Node: "b"})
		a.Wrap(rec)
		one, two := batchNotifications(b, 10, 1, 2), batchNotifications(b, 20000, 3)
		if len(two) < 4 {
			t.Fatalf("a 20 kB batch made %d notifications", len(two))
		}
		for _, n := range append(append(append(one, one...), two...), two[1:]...) {
			if len(n) >= 8000 {
				t.Fatalf("notification of %d bytes", len(n))
			}
			a.handleNotification(n)
		}
		if got := payloadIs(rec); fmt.Sprint(got) != "[1 2 3]" {
			t.Errorf("delivered %v, want [1 2 3]", got)
		}
	})
	t.Run("gap", func(t *testing.T) {
		rec := newRecorder()
		a, b := New(Config{Node: "a"}), New(Config{Node: "b"})
		a.Wrap(rec)
		one, two, three := batchNotifications(b, 20000, 1), batchNotifications(b, 20000, 2), batchNotifications(b, 10, 3)
		for _, n := range one[:2] {
			a.handleNotification(n)
		}
		// one's tail and two's head are lost: two is not delivered in part.
		for _, n := range append(two[1:], three...) {
			a.handleNotification(n)
		}
		if got := payloadIs(rec); fmt.Sprint(got) != "[3]" {
			t.Errorf("delivered %v, want [3]", got)
		}
	})
	t.Run("sender restarted", func(t *testing.T) {
		rec := newRecorder()
		a, b := New(Config{Node: "a"}), New(Config{Node: "b"})
		a.Wrap(rec)
		for _, n := range batchNotifications(b, 10, 1, 2, 3) {
			a.handleNotification(n)
		}
		b2 := New(Config{Node: "b"})
		for _, n := range batchNotifications(b2, 10, 4) {
			a.handleNotification(n)
		}
		if got := payloadIs(rec); fmt.Sprint(got) != "[1 2 3 4]" {
			t.Errorf("delivered %v, want [1 2 3 4]", got)
		}
	})
	t.Run("own and malformed", func(t *testing.T) {
		rec := newRecorder()
		a := New(Config{Node: "a"})
		a.Wrap(rec)
		for _, n := range batchNotifications(a, 10, 1) {
			a.handleNotification(n)
		}
		for _, n := range []string{"", "!!!", base64.RawStdEncoding.EncodeToString([]byte{9, 3, 1, 'b', 0, 0})} {
			a.handleNotification(n)
		}
		if got := rec.envelopes(); len(got) != 0 {
			t.Errorf("delivered %d envelopes", len(got))
		}
	})
}

func FuzzHandleNotification(f *testing.F) {
	b := New(Config{Node: "b"})
	for _, n := range batchNotifications(b, 10, 1, 2) {
		f.Add(n)
	}
	f.Add(base64.RawStdEncoding.EncodeToString(appendChunk(nil, chunkFirst|chunkLast, "b", 1, 0, []byte{1, 1, 'b', 0, 0, 0, 1, 't', 0, 0, 0})))
	f.Fuzz(func(t *testing.T, payload string) {
		rec := newRecorder()
		r := New(Config{Node: "a"})
		r.Wrap(rec)
		r.handleNotification(payload)
		r.handleNotification(payload)
		for _, e := range rec.envelopes() {
			if e.Topic == "" || e.Kind == broadcast.KindPresenceDiff || e.Sender.Node == "a" {
				t.Fatalf("delivered %+v", e)
			}
		}
	})
}

// A listener whose connection is killed listens again, and what is
// relayed after that arrives.
func TestNotifyRelistens(t *testing.T) {
	url := pgtest.NewDatabase(t)
	recA, recB := newRecorder(), newRecorder()
	a, _ := startPair(t, url, ModeNotify, recA, recB)
	pubA := broadcast.PublisherFunc(a.publish)
	first := envelopeN(1, 10)
	first.Sender.Node = "a"
	pubA.Publish(&first)
	recB.waitFor(t, 1)

	pool := newPool(t, url)
	tag, err := pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND query = 'LISTEN `+NotifyChannel+`' AND pid <> pg_backend_pid()`)
	if err != nil || tag.RowsAffected() != 2 {
		t.Fatalf("terminating the listeners: %v (%d rows)", err, tag.RowsAffected())
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 2; len(recB.envelopes()) < 2; i++ {
		if time.Now().After(deadline) {
			t.Fatal("nothing arrived after the LISTEN connection was killed")
		}
		e := envelopeN(i, 10)
		e.Sender.Node = "a"
		pubA.Publish(&e)
		time.Sleep(50 * time.Millisecond)
	}
}
