package transport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/walcast/walcast/auth"
	"github.com/walcast/walcast/broadcast"
	"github.com/walcast/walcast/phoenix"
)

// restHandler serves Supabase's REST broadcast endpoints: the batch
// POST /api/broadcast and the single POST /api/broadcast/{topic}/events/{event}
// (what realtime-js's httpSend calls), both also under /realtime/v1 as the
// hosted gateway exposes them.
type restHandler struct {
	s     *Server
	limit *keyedLimiter // messages per client IP
}

// mountREST adds the REST routes to r.
func (s *Server) mountREST(r chi.Router) {
	h := &restHandler{s: s, limit: newKeyedLimiter(s.cfg.RESTMessagesPerSecond)}
	for _, base := range []string{"/api/broadcast", "/realtime/v1/api/broadcast"} {
		single := base + "/{topic}/events/{event}"
		r.Post(base, h.serveBatch)
		r.Post(single, h.serveSingle)
		r.Options(base, servePreflight)
		r.Options(single, servePreflight)
	}
}

// Response bodies, as Supabase words them.
var (
	restUnauthorized    = []byte(`{"message":"Unauthorized"}`)
	restTooManyRequests = []byte(`{"message":"Too many requests"}`)
	restBatchTooLarge   = []byte(`{"message":"Too many messages to broadcast, please reduce the batch size"}`)
	restBodyTooLarge    = []byte(`{"message":"Request body too large"}`)
	restUnsupportedType = []byte(`{"error":"Unsupported Media Type. Use application/json or application/octet-stream"}`)
	restNotJSON         = []byte(`{"errors":{"body":["is not valid JSON"]}}`)
	restPayloadTooLarge = []byte(`{"errors":{"payload":["Payload size exceeds tenant limit"]}}`)
	// Supabase's JSON parser refuses these with a bare 400; walcast says why.
	restNotUTF8 = []byte(`{"message":"Request body is not valid UTF-8: JSON must be UTF-8 text"}`)
)

// servePreflight answers a CORS preflight: any origin may broadcast (the
// token, not the origin, authorizes), with the headers supabase-js sends.
func servePreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	} else {
		h.Set("Access-Control-Allow-Headers", "authorization, apikey, content-type, x-client-info")
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// restCaller is who sent a REST request: the verified token.
type restCaller struct {
	token  string
	claims *auth.Claims
}

// mayWrite asks the Authorizer whether the caller may broadcast to topic,
// as a channel's first broadcast would be asked.
func (h *restHandler) mayWrite(who restCaller, topic string, private bool) error {
	access, err := h.s.authorize(ChannelRequest{Topic: topic, Private: private, Token: who.token, Claims: who.claims})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), authorizeTimeout)
	defer cancel()
	return access.Write(ctx, ExtBroadcast)
}

// begin does what both endpoints do first: CORS, authentication and the
// bounded body. It reports false when it has answered the request.
func (h *restHandler) begin(w http.ResponseWriter, r *http.Request) ([]byte, restCaller, bool) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	who := restCaller{token: restToken(r)}
	if who.token == "" {
		writeJSON(w, http.StatusUnauthorized, restUnauthorized)
		return nil, who, false
	}
	claims, err := h.s.cfg.Verifier.Verify(who.token)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, restUnauthorized)
		return nil, who, false
	}
	who.claims = claims
	// A batch may carry several payloads; the whole body is bounded like
	// an inbound WebSocket message.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(h.s.cfg.MaxFrameBytes)))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeJSON(w, http.StatusRequestEntityTooLarge, restBodyTooLarge)
		}
		// Otherwise the client went away mid-body: no one to answer.
		return nil, who, false
	}
	return body, who, true
}

// restToken is the request's JWT: Authorization: Bearer first (Supabase's
// preference), then the apikey header, then the apikey query parameter,
// which realtime-js's httpSend carries over from the socket URL.
func restToken(r *http.Request) string {
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	if k := r.Header.Get("Apikey"); k != "" {
		return k
	}
	return r.URL.Query().Get("apikey")
}

// allow counts n messages against the client's rate, answering 429 when
// they do not fit.
func (h *restHandler) allow(w http.ResponseWriter, r *http.Request, n int) bool {
	if h.limit.take(clientIP(r), n) {
		return true
	}
	h.s.stats.rateLimited.Add(1)
	body := restTooManyRequests
	if h.limit.rate > 0 && float64(n) > h.limit.burst {
		body = restBatchTooLarge // would never fit
	}
	writeJSON(w, http.StatusTooManyRequests, body)
	return false
}

// serveSingle handles POST /api/broadcast/{topic}/events/{event}[?private=true]:
// the body is the payload, JSON (also when no content type is given) or raw
// bytes (application/octet-stream). vsn 2.0.0 sockets get it as a kind-4
// frame; vsn 1.0.0 ones as text, and raw bytes not at all (no text form).
func (h *restHandler) serveSingle(w http.ResponseWriter, r *http.Request) {
	body, who, ok := h.begin(w, r)
	if !ok {
		return
	}
	isJSON := true
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, _ := mime.ParseMediaType(ct)
		switch mt {
		case "application/json":
		case "application/octet-stream":
			isJSON = false
		default:
			writeJSON(w, http.StatusUnsupportedMediaType, restUnsupportedType)
			return
		}
	}
	if isJSON && !utf8.Valid(body) {
		writeJSON(w, http.StatusBadRequest, restNotUTF8)
		return
	}
	if isJSON && !phoenix.ValidJSONValue(body) {
		writeJSON(w, http.StatusUnprocessableEntity, restNotJSON)
		return
	}
	if len(body) > h.s.cfg.MaxPayloadBytes {
		writeJSON(w, http.StatusUnprocessableEntity, restPayloadTooLarge)
		return
	}
	topic, event := pathParam(r, "topic"), pathParam(r, "event")
	if msg := h.s.checkNames(topic, event); msg != nil {
		writeJSON(w, http.StatusBadRequest, msg)
		return
	}
	if !h.allow(w, r, 1) {
		return
	}
	private := strings.EqualFold(r.URL.Query().Get("private"), "true")
	if err := h.mayWrite(who, topic, private); err != nil {
		h.s.log.Debug("refusing unauthorized REST broadcast", "topic", topic, "private", private, "error", err)
		writeJSON(w, http.StatusForbidden, restUnauthorized)
		return
	}
	h.s.publish(&broadcast.Envelope{
		Topic: topic, Private: private, Kind: broadcast.KindUser,
		Event: event, Payload: body, JSON: isJSON, Binary: true,
	})
	w.WriteHeader(http.StatusAccepted)
}

// pathParam returns a decoded path parameter. chi matches on the raw path
// when the URL has one (an escaped '/' in a topic), and then the parameter
// is still escaped.
func pathParam(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if r.URL.RawPath == "" {
		return v
	}
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// restError is a 422 body: {"errors":{field:[message]}}.
func restError(field, msg string) []byte {
	b, _ := json.Marshal(map[string]map[string][]string{"errors": {field: {msg}}})
	return b
}
