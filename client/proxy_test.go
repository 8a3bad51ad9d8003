package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"
	"github.com/walcast/walcast/phoenix"
)

// proxy relays WebSocket messages between clients and the env's server,
// so that tests can see what a client sends, cut connections as a network
// would, and stand in for server behaviour that is not built yet (the
// resume extension's acknowledgement and gap message).
type proxy struct {
	t        *testing.T
	upstream string
	http     *httptest.Server
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[*websocket.Conn]proxyConn // client side → both sides
	sent  []phoenix.Message             // text messages clients sent
	dials int
	// rewrite, when set, replaces each server→client text message by
	// the frames it returns (nil: the message as is).
	rewrite func(m phoenix.Message, v phoenix.Version) [][]byte
	// dropHeartbeatReplies swallows the server's heartbeat replies.
	dropHeartbeatReplies bool
	// refuse answers new connections 503, as an unreachable server.
	refuse bool
}

type proxyConn struct {
	client, server *websocket.Conn
	v              phoenix.Version
}

func newProxy(t *testing.T, upstream string) *proxy {
	p := &proxy{t: t, upstream: upstream, conns: make(map[*websocket.Conn]proxyConn)}
	p.http = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.cut()
		p.http.Close()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) serve(w http.ResponseWriter, r *http.Request) {
	v, err := phoenix.ParseVersion(r.URL.Query().Get("vsn"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	refuse := p.refuse
	p.mu.Unlock()
	if refuse {
		http.Error(w, "refused by the test", http.StatusServiceUnavailable)
		return
	}
	up, _, err := websocket.Dial(r.Context(), "ws"+strings.TrimPrefix(p.upstream, "http")+r.URL.Path+"?"+r.URL.RawQuery, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	down, err := websocket.Accept(w, r, nil)
	if err != nil {
		up.CloseNow()
		return
	}
	up.SetReadLimit(-1)
	down.SetReadLimit(-1)
	pc := proxyConn{client: down, server: up, v: v}
	p.mu.Lock()
	p.conns[down] = pc
	p.dials++
	p.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	end := func() {
		cancel()
		up.CloseNow()
		down.CloseNow()
		p.mu.Lock()
		delete(p.conns, down)
		p.mu.Unlock()
	}
	p.wg.Go(func() {
		defer end()
		for {
			typ, data, err := down.Read(ctx)
			if err != nil {
				return
			}
			if typ == websocket.MessageText {
				if m, err := phoenix.DecodeText(v, data); err == nil {
					p.mu.Lock()
					p.sent = append(p.sent, m)
					p.mu.Unlock()
				}
			}
			if up.Write(ctx, typ, data) != nil {
				return
			}
		}
	})
	p.wg.Go(func() {
		defer end()
		for {
			typ, data, err := up.Read(ctx)
			if err != nil {
				return
			}
			frames := [][]byte{data}
			if typ == websocket.MessageText {
				frames = p.fromServer(data, v)
			}
			for _, f := range frames {
				if down.Write(ctx, typ, f) != nil {
					return
				}
			}
		}
	})
}

func (p *proxy) fromServer(data []byte, v phoenix.Version) [][]byte {
	m, err := phoenix.DecodeText(v, data)
	if err != nil {
		return [][]byte{data}
	}
	p.mu.Lock()
	drop, rewrite := p.dropHeartbeatReplies, p.rewrite
	p.mu.Unlock()
	if drop && m.Topic == "phoenix" && m.Event == "phx_reply" {
		return nil
	}
	if rewrite != nil {
		if out := rewrite(m, v); out != nil {
			return out
		}
	}
	return [][]byte{data}
}

// setRefuse makes the proxy refuse new connections, or accept them again.
func (p *proxy) setRefuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// cut drops every connection, without close frames.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		pc.client.CloseNow()
		pc.server.CloseNow()
	}
}

// inject sends a server message to every connected client.
func (p *proxy) inject(m phoenix.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.conns {
		if err := pc.client.Write(context.Background(), websocket.MessageText, phoenix.AppendText(nil, pc.v, m)); err != nil {
			p.t.Errorf("inject: %v", err)
		}
	}
}

func (p *proxy) dialCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dials
}

// joins returns the phx_join payloads clients sent for topic.
func (p *proxy) joins(topic string) []json.RawMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []json.RawMessage
	for _, m := range p.sent {
		if m.Topic == topic && m.Event == "phx_join" {
			out = append(out, m.Payload)
		}
	}
	return out
}

// resumeOf returns config.postgres_changes_resume.after of a join payload.
func resumeOf(t *testing.T, payload json.RawMessage) string {
	t.Helper()
	var p struct {
		Config map[string]json.RawMessage
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	raw, ok := p.Config[ResumeConfigKey]
	if !ok {
		return ""
	}
	var r ResumeConfig
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return r.After
}
