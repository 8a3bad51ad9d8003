package phoenix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// postgres_changes_options.timeout: the default, and the cap the Elixir
// server applies (postgres_changes_wait_max_timeout).
const (
	DefaultWaitTimeout = 15 * time.Second
	MaxWaitTimeout     = 20 * time.Second
)

// JoinConfig is what a phx_join payload asks for.
type JoinConfig struct {
	Broadcast struct{ Self, Ack bool }
	Presence  struct {
		Key     string // "" when missing or empty: the server picks a random key
		Enabled bool
	}
	PostgresChanges []PostgresBinding // in order, null entries dropped
	Private         bool
	Wait            bool          // postgres_changes_options.wait
	WaitTimeout     time.Duration // postgres_changes_options.timeout (default 15 s, capped at 20 s)
	AccessToken     string        // access_token (or legacy user_token); "" when absent

	// ReplicationReady is config.broadcast.replication_ready: the client
	// wants a system message once the replication connection is up.
	ReplicationReady bool
	// Replay is config.broadcast.replay as sent ({since, limit?}), or nil.
	Replay json.RawMessage
	// ResumeAfter is walcast's config.postgres_changes_resume.after: the
	// cursor of the last change the client saw, "" when absent. The
	// server then sends the matching changes after it before live ones
	// (or a gap system message). Other servers ignore the key.
	ResumeAfter string
	// Invalid lists the values of the wrong type that were replaced by their
	// defaults, e.g. "config.broadcast.ack: want a boolean, got \"yes\"". The
	// Elixir server logs these and joins anyway; so should the caller.
	Invalid []string
}

// PostgresBinding is one entry of config.postgres_changes.
type PostgresBinding struct {
	Event, Schema, Table, Filter string // "" when absent or null
	// Raw is the client's object exactly as sent, to echo back in the join
	// reply with an added "id" (AppendBindingWithID). The client compares
	// the echo key by key, so it must not be rebuilt from the fields.
	Raw json.RawMessage
}

// ParseJoin reads a phx_join payload (§2.2 of the protocol notes). Like the
// Elixir server it is tolerant: unknown keys (e.g. "version") are ignored,
// missing keys take their defaults, booleans may be "true"/"false" strings
// in any case, and values of the wrong type are replaced by their defaults
// and listed in Invalid.
//
// It fails only when the payload cannot be joined with at all: it is not a
// JSON object, or a postgres_changes entry is neither an object nor null
// (its echo would have nowhere to put an id; the Elixir server crashes
// there and refuses the join).
//
// Topic-based legacy postgres subscriptions (a payload without "config")
// are not supported: such a join simply has no bindings.
func ParseJoin(payload json.RawMessage) (JoinConfig, error) {
	cfg := JoinConfig{WaitTimeout: DefaultWaitTimeout}
	top, err := decodeObjectMembers(payload)
	if err != nil {
		return JoinConfig{}, fmt.Errorf("join payload: %w", err)
	}
	p := joinParser{cfg: &cfg}
	if tok, ok := p.str(top, "access_token", "access_token"); ok && tok != "" {
		cfg.AccessToken = tok
	} else if tok, ok := p.str(top, "user_token", "user_token"); ok {
		cfg.AccessToken = tok
	}
	config, ok := p.object(top["config"], "config")
	if !ok {
		return cfg, nil
	}
	if b, ok := p.object(config["broadcast"], "config.broadcast"); ok {
		cfg.Broadcast.Self = p.flag(b, "self", "config.broadcast.self")
		cfg.Broadcast.Ack = p.flag(b, "ack", "config.broadcast.ack")
		cfg.ReplicationReady = p.flag(b, "replication_ready", "config.broadcast.replication_ready")
		if r, ok := b["replay"]; ok && !IsJSONNull(r) {
			if FirstJSONByte(r) == '{' {
				cfg.Replay = r
			} else {
				p.invalid("config.broadcast.replay", "an object", r)
			}
		}
	}
	if pr, ok := p.object(config["presence"], "config.presence"); ok {
		cfg.Presence.Enabled = p.flag(pr, "enabled", "config.presence.enabled")
		cfg.Presence.Key = p.presenceKey(pr["key"])
	}
	cfg.Private = p.flag(config, "private", "config.private")
	if o, ok := p.object(config["postgres_changes_options"], "config.postgres_changes_options"); ok {
		cfg.Wait = p.flag(o, "wait", "config.postgres_changes_options.wait")
		cfg.WaitTimeout = p.timeout(o["timeout"])
	}
	if o, ok := p.object(config["postgres_changes_resume"], "config.postgres_changes_resume"); ok {
		cfg.ResumeAfter, _ = p.str(o, "after", "config.postgres_changes_resume.after")
	}
	cfg.PostgresChanges, err = p.bindings(config["postgres_changes"])
	if err != nil {
		return JoinConfig{}, fmt.Errorf("join payload: %w", err)
	}
	return cfg, nil
}

// joinParser collects the Invalid notes while ParseJoin walks the payload.
type joinParser struct{ cfg *JoinConfig }

func (p joinParser) invalid(path, want string, got json.RawMessage) {
	s := string(bytes.TrimSpace(got))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	p.cfg.Invalid = append(p.cfg.Invalid, fmt.Sprintf("%s: want %s, got %s", path, want, s))
}

// object decodes raw as an object; absent and null are silently absent.
func (p joinParser) object(raw json.RawMessage, path string) (map[string]json.RawMessage, bool) {
	if raw == nil || IsJSONNull(raw) {
		return nil, false
	}
	m, err := decodeObjectMembers(raw)
	if err != nil {
		p.invalid(path, "an object", raw)
		return nil, false
	}
	return m, true
}

// flag reads a boolean that may also be the string "true" or "false" in any
// case (the Elixir server's FlexibleBoolean); anything else is false.
func (p joinParser) flag(m map[string]json.RawMessage, key, path string) bool {
	raw, ok := m[key]
	if !ok || IsJSONNull(raw) {
		return false
	}
	var v any
	_ = json.Unmarshal(raw, &v) // raw is valid: it came out of an object
	switch v := v.(type) {
	case bool:
		return v
	case string:
		switch strings.ToLower(v) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	p.invalid(path, "a boolean", raw)
	return false
}

// str reads a string member; absent and null are ("", false) silently.
func (p joinParser) str(m map[string]json.RawMessage, key, path string) (string, bool) {
	raw, ok := m[key]
	if !ok || IsJSONNull(raw) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		p.invalid(path, "a string", raw)
		return "", false
	}
	return s, true
}

// presenceKey accepts what the Elixir server does: a string, a number or a
// boolean (presence keys end up as JSON object keys, i.e. text, anyway).
func (p joinParser) presenceKey(raw json.RawMessage) string {
	if raw == nil || IsJSONNull(raw) {
		return ""
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	_ = d.Decode(&v)
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	p.invalid("config.presence.key", "a string", raw)
	return ""
}

// timeout reads postgres_changes_options.timeout in milliseconds: a positive
// integer, or a string holding one (Ecto casts those), capped at
// MaxWaitTimeout. Anything else keeps the default.
func (p joinParser) timeout(raw json.RawMessage) time.Duration {
	if raw == nil || IsJSONNull(raw) {
		return DefaultWaitTimeout
	}
	text := string(bytes.TrimSpace(raw))
	if text[0] == '"' {
		_ = json.Unmarshal(raw, &text)
	}
	ms, err := strconv.ParseInt(text, 10, 64)
	if err != nil || ms <= 0 {
		p.invalid("config.postgres_changes_options.timeout", "a positive integer (ms)", raw)
		return DefaultWaitTimeout
	}
	if ms >= MaxWaitTimeout.Milliseconds() {
		return MaxWaitTimeout
	}
	return time.Duration(ms) * time.Millisecond
}

func (p joinParser) bindings(raw json.RawMessage) ([]PostgresBinding, error) {
	if raw == nil || IsJSONNull(raw) {
		return nil, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		p.invalid("config.postgres_changes", "an array", raw)
		return nil, nil
	}
	out := make([]PostgresBinding, 0, len(list))
	for i, entry := range list {
		if IsJSONNull(entry) {
			continue // the Elixir server drops null entries
		}
		path := "config.postgres_changes[" + strconv.Itoa(i) + "]"
		m, err := decodeObjectMembers(entry)
		if err != nil {
			return nil, fmt.Errorf("%s: want an object, got %s", path, jsonKindOf(bytes.TrimSpace(entry)))
		}
		b := PostgresBinding{Raw: entry}
		b.Event, _ = p.str(m, "event", path+".event")
		b.Schema, _ = p.str(m, "schema", path+".schema")
		b.Table, _ = p.str(m, "table", path+".table")
		b.Filter, _ = p.str(m, "filter", path+".filter")
		out = append(out, b)
	}
	return out, nil
}

// decodeObjectMembers decodes one JSON object into its members.
func decodeObjectMembers(raw json.RawMessage) (map[string]json.RawMessage, error) {
	if FirstJSONByte(raw) != '{' {
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil, errors.New("empty, want a JSON object")
		}
		if !ValidJSONValue(raw) {
			return nil, errors.New("not valid JSON")
		}
		return nil, fmt.Errorf("want a JSON object, got %s", jsonKindOf(bytes.TrimSpace(raw)))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	return m, nil
}

// AppendBindingWithID appends raw, a binding object as the client sent it,
// with ,"id":N inserted before its closing brace ("id":N alone for {}):
// the join reply echoes each binding this way, every key the client sent
// included. raw must be a JSON object (ParseJoin guarantees it); if it does
// not end in '}', {"id":N} is appended instead so the reply stays valid JSON.
func AppendBindingWithID(dst []byte, raw json.RawMessage, id uint64) []byte {
	end := len(raw)
	for end > 0 && isJSONSpace(raw[end-1]) {
		end--
	}
	if end == 0 || raw[end-1] != '}' || FirstJSONByte(raw) != '{' {
		dst = append(dst, `{"id":`...)
		dst = strconv.AppendUint(dst, id, 10)
		return append(dst, '}')
	}
	body := end - 1 // index of the closing brace
	j := body
	for j > 0 && isJSONSpace(raw[j-1]) {
		j--
	}
	dst = append(dst, raw[:body]...)
	if j > 0 && raw[j-1] == '{' {
		dst = append(dst, `"id":`...)
	} else {
		dst = append(dst, `,"id":`...)
	}
	dst = strconv.AppendUint(dst, id, 10)
	return append(dst, '}')
}
