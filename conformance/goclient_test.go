package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/walcast/walcast/client"
	"github.com/walcast/walcast/phoenix"
)

// TestGoClient: the Go client (package client) and realtime-js in one room
// of a real walcast serve, with the same serializer: presence both ways
// (join, merged state, leave), JSON broadcasts both ways and raw bytes from
// Go (goclient.mjs); and the Go client receives a committed row.
func TestGoClient(t *testing.T) {
	forEachVSN(t, func(t *testing.T, vsn string) {
		h := newHarness(t)
		v, err := phoenix.ParseVersion(vsn)
		if err != nil {
			t.Fatal(err)
		}
		apikey := signHS256(h.srv.secret, map[string]any{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, fmt.Sprintf("http://127.0.0.1:%d/realtime/v1", h.srv.port), client.Options{APIKey: apikey, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()

		changes := make(chan client.Change, 4)
		items := c.Channel("items", client.ChannelConfig{})
		items.OnPostgresChanges(client.PostgresChangesFilter{Event: "INSERT", Table: "items", Filter: "name=eq.go"},
			func(chg client.Change) { changes <- chg })
		if err := items.Subscribe(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := h.db.Exec(ctx, `INSERT INTO items (id, name) VALUES (1, 'js'), (2, 'go')`); err != nil {
			t.Fatal(err)
		}
		select {
		case chg := <-changes:
			var row struct{ ID int }
			if err := json.Unmarshal(chg.Record, &row); err != nil || row.ID != 2 || chg.Cursor == "" {
				t.Errorf("change %+v (record %s), want row 2 with a cursor", chg, chg.Record)
			}
		case <-ctx.Done():
			t.Fatal("no change")
		}

		room := c.Channel("interop", client.ChannelConfig{Presence: client.PresenceConfig{Key: "go"}})
		heard := make(chan client.Broadcast, 4)
		states := make(chan client.PresenceState, 32)
		room.OnBroadcast("from-js", func(b client.Broadcast) { heard <- b })
		room.OnPresenceSync(func(s client.PresenceState) { states <- s })
		// waitState waits for a sync whose state satisfies ok.
		waitState := func(what string, ok func(client.PresenceState) bool) error {
			for {
				select {
				case s := <-states:
					if ok(s) {
						return nil
					}
				case <-time.After(10 * time.Second):
					return fmt.Errorf("no presence sync where %s", what)
				}
			}
		}
		nameOf := func(p []client.Presence) string {
			var m struct{ Name string }
			if len(p) != 1 || json.Unmarshal(p[0].Meta, &m) != nil {
				return ""
			}
			return m.Name
		}

		h.run(vsn, "goclient.mjs", "/realtime/v1", map[string]func() error{
			"go-join": func() error {
				if err := room.Subscribe(ctx); err != nil {
					return err
				}
				if err := room.Track(ctx, map[string]string{"name": "go"}); err != nil {
					return err
				}
				if err := waitState("js and go are present", func(s client.PresenceState) bool {
					return nameOf(s["js"]) == "js" && nameOf(s["go"]) == "go"
				}); err != nil {
					return err
				}
				if err := room.Send(ctx, "from-go", map[string]any{"n": 1, "s": "é"}); err != nil {
					return err
				}
				if v == phoenix.V2 {
					return room.SendBinary(ctx, "bin-go", []byte{1, 2, 0xff})
				}
				return nil
			},
			"go-heard": func() error {
				select {
				case b := <-heard:
					if string(b.Payload) != `{"n":2}` {
						return fmt.Errorf("from-js payload %s, want {\"n\":2}", b.Payload)
					}
					return nil
				case <-time.After(10 * time.Second):
					return fmt.Errorf("the Go client did not hear from-js")
				}
			},
			"go-saw-leave": func() error {
				return waitState("js left", func(s client.PresenceState) bool {
					_, js := s["js"]
					return !js && nameOf(s["go"]) == "go"
				})
			},
		})
	})
}
