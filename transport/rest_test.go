package transport

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"
)

// post sends a POST (or another method) and returns the status and body.
func post(t testing.TB, method, url string, header map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func expectStatus(t testing.TB, what string, resp *http.Response, body string, status int, wantBody string) {
	t.Helper()
	if resp.StatusCode != status || wantBody != "*" && body != wantBody {
		t.Errorf("%s: %d %s, want %d %s", what, resp.StatusCode, body, status, wantBody)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("%s: Access-Control-Allow-Origin = %q, want *", what, got)
	}
}

// listeners joins a vsn 1.0.0 and a vsn 2.0.0 socket to topic.
func listeners(t *testing.T, e *testEnv, topic string, private bool) (v1, v2 *client) {
	v1, v2 = e.dial(t, phoenix.V1), e.dial(t, phoenix.V2)
	v1.joinRoom(topic, "6", false, false, private)
	v2.joinRoom(topic, "6", false, false, private)
	return v1, v2
}

// The URL realtime-js's httpSend builds: the socket's query string comes
// along, the apikey in it included.
func TestRESTSingleHTTPSendShape(t *testing.T) {
	e := newEnv(t, Config{})
	v1, v2 := listeners(t, e, room, false)
	url := e.http.URL + "/realtime/v1/api/broadcast/room1/events/evt?apikey=" + token(t, time.Hour) + "&vsn=2.0.0"
	resp, body := post(t, "POST", url, map[string]string{"Content-Type": "application/json"}, `{"a":1}`)
	expectStatus(t, "httpSend", resp, body, http.StatusAccepted, "")
	expectFrames(t, "v2", v2.sync(), binary(phoenix.AppendBroadcastBinary(nil, room, "evt", nil, true, []byte(`{"a":1}`))))
	expectFrames(t, "v1", v1.sync(), textBroadcast(phoenix.V1, room, `{"type":"broadcast","event":"evt","payload":{"a":1}}`))

	// Raw bytes: kind 4 with encoding 0, and nothing for vsn 1.0.0.
	resp, body = post(t, "POST", url, map[string]string{"Content-Type": "application/octet-stream"}, "\x00\x01raw")
	expectStatus(t, "bytes", resp, body, http.StatusAccepted, "")
	expectFrames(t, "v2", v2.sync(), binary(phoenix.AppendBroadcastBinary(nil, room, "evt", nil, false, []byte("\x00\x01raw"))))
	expectFrames(t, "v1", v1.sync())

	// No content type means JSON; a JSON string is a payload too.
	resp, body = post(t, "POST", url, nil, `"hi"`)
	expectStatus(t, "no content type", resp, body, http.StatusAccepted, "")
	expectFrames(t, "v2", v2.sync(), binary(phoenix.AppendBroadcastBinary(nil, room, "evt", nil, true, []byte(`"hi"`))))
	expectFrames(t, "v1", v1.sync(), textBroadcast(phoenix.V1, room, `{"type":"broadcast","event":"evt","payload":"hi"}`))

	resp, body = post(t, "POST", url, map[string]string{"Content-Type": "text/plain"}, `x`)
	expectStatus(t, "text/plain", resp, body, http.StatusUnsupportedMediaType,
		`{"error":"Unsupported Media Type. Use application/json or application/octet-stream"}`)
	resp, body = post(t, "POST", url, nil, `{"a":`)
	expectStatus(t, "bad JSON", resp, body, http.StatusUnprocessableEntity, `{"errors":{"body":["is not valid JSON"]}}`)
}

// Topics and events are URI-encoded by httpSend; private=true selects the
// private room.
func TestRESTSingleTopicsAndPrivate(t *testing.T) {
	e := newEnv(t, Config{})
	pub := e.dial(t, phoenix.V2)
	pub.joinRoom("realtime:a/b c", "6", false, false, false)
	priv := e.dial(t, phoenix.V2)
	priv.joinRoom("realtime:a/b c", "6", false, false, true)
	base := e.http.URL + "/api/broadcast/a%2Fb%20c/events/"
	hdr := map[string]string{"Authorization": "Bearer " + token(t, time.Hour)}
	resp, body := post(t, "POST", base+"%C3%A9v?private=true", hdr, `{}`)
	expectStatus(t, "private", resp, body, http.StatusAccepted, "")
	expectFrames(t, "private", priv.sync(), binary(phoenix.AppendBroadcastBinary(nil, "realtime:a/b c", "év", nil, true, []byte(`{}`))))
	expectFrames(t, "public", pub.sync())
	resp, body = post(t, "POST", base+"x", hdr, `{}`)
	expectStatus(t, "public", resp, body, http.StatusAccepted, "")
	expectFrames(t, "public", pub.sync(), binary(phoenix.AppendBroadcastBinary(nil, "realtime:a/b c", "x", nil, true, []byte(`{}`))))
	expectFrames(t, "private", priv.sync())
}

// realtime-js's send() falls back to the batch endpoint when not joined.
func TestRESTBatch(t *testing.T) {
	e := newEnv(t, Config{})
	v1, v2 := listeners(t, e, room, false)
	priv := e.dial(t, phoenix.V2)
	priv.joinRoom(room, "6", false, false, true)
	hdr := map[string]string{"apikey": token(t, time.Hour), "Content-Type": "application/json"}
	resp, body := post(t, "POST", e.http.URL+"/realtime/v1/api/broadcast?apikey=ignored&vsn=2.0.0", hdr,
		`{"messages":[{"topic":"room1","event":"e","payload":{"n":1},"private":false},`+
			`{"topic":"room1","event":"e","payload":{"n":2},"id":"9b1f"},`+
			`{"topic":"room1","event":"p","payload":{},"private":true}]}`)
	expectStatus(t, "batch", resp, body, http.StatusAccepted, "")
	m1 := `{"type":"broadcast","event":"e","payload":{"n":1}}`
	m2 := `{"type":"broadcast","event":"e","payload":{"n":2},"meta":{"id":"9b1f"}}`
	expectFrames(t, "v1", v1.sync(), textBroadcast(phoenix.V1, room, m1), textBroadcast(phoenix.V1, room, m2))
	expectFrames(t, "v2", v2.sync(), textBroadcast(phoenix.V2, room, m1), textBroadcast(phoenix.V2, room, m2))
	expectFrames(t, "private", priv.sync(), textBroadcast(phoenix.V2, room, `{"type":"broadcast","event":"p","payload":{}}`))
}

func TestRESTBatchValidation(t *testing.T) {
	e := newEnv(t, Config{MaxPayloadBytes: 20})
	v2 := e.dial(t, phoenix.V2)
	v2.joinRoom(room, "6", false, false, false)
	hdr := map[string]string{"apikey": token(t, time.Hour)}
	for _, tc := range []struct{ body, want string }{
		{`{}`, `{"errors":{"messages":["can't be blank"]}}`},
		{`{"messages":[]}`, `{"errors":{"messages":["can't be blank"]}}`},
		{`{"messages":{}}`, `{"errors":{"messages":["is invalid"]}}`},
		{`[1]`, `{"errors":{"body":["is not valid JSON"]}}`},
		{`{"messages":[{"topic":"room1","event":"e","payload":{}},{"event":1,"payload":[],"private":"maybe"},7]}`,
			`{"errors":{"messages":[{},{"event":["is invalid"],"payload":["is invalid"],"private":["is invalid"],"topic":["can't be blank"]},{"message":["is invalid"]}]}}`},
		{`{"messages":[{"topic":"room1","event":"e","payload":{"pad":"0123456789abcdef"}}]}`,
			`{"errors":{"messages":[{"payload":["Payload size exceeds tenant limit"]}]}}`},
	} {
		resp, body := post(t, "POST", e.http.URL+"/api/broadcast", hdr, tc.body)
		expectStatus(t, tc.body, resp, body, http.StatusUnprocessableEntity, tc.want)
	}
	// Nothing of a refused batch was sent, not even its valid messages.
	expectFrames(t, "listener", v2.sync())

	resp, body := post(t, "POST", e.http.URL+"/api/broadcast/room1/events/e", hdr, `{"pad":"0123456789abcdef"}`)
	expectStatus(t, "single too large", resp, body, http.StatusUnprocessableEntity, `{"errors":{"payload":["Payload size exceeds tenant limit"]}}`)
}

func TestRESTAuth(t *testing.T) {
	e := newEnv(t, Config{})
	url := e.http.URL + "/api/broadcast/room1/events/e"
	for _, tc := range []struct {
		name   string
		url    string
		header map[string]string
		status int
	}{
		{"none", url, nil, 401},
		{"bad bearer", url, map[string]string{"Authorization": "Bearer nope"}, 401},
		{"expired apikey", url, map[string]string{"apikey": token(t, -time.Minute)}, 401},
		// The bearer wins over a valid apikey, as in Supabase.
		{"bad bearer, good apikey", url, map[string]string{"Authorization": "Bearer nope", "apikey": token(t, time.Hour)}, 401},
		{"bearer", url, map[string]string{"Authorization": "bearer " + token(t, time.Hour)}, 202},
		{"apikey header", url, map[string]string{"apikey": token(t, time.Hour)}, 202},
		{"apikey query", url + "?apikey=" + token(t, time.Hour), nil, 202},
	} {
		resp, body := post(t, "POST", tc.url, tc.header, `{}`)
		want := ""
		if tc.status == 401 {
			want = `{"message":"Unauthorized"}`
		}
		expectStatus(t, tc.name, resp, body, tc.status, want)
	}
}

func TestRESTPreflight(t *testing.T) {
	e := newEnv(t, Config{})
	for _, path := range []string{"/api/broadcast", "/realtime/v1/api/broadcast/room1/events/e"} {
		resp, body := post(t, "OPTIONS", e.http.URL+path, map[string]string{
			"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "apikey, authorization, content-type, x-client-info",
		}, "")
		expectStatus(t, path, resp, body, http.StatusNoContent, "")
		if got := resp.Header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "apikey") {
			t.Errorf("%s: Access-Control-Allow-Headers = %q", path, got)
		}
		if got := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
			t.Errorf("%s: Access-Control-Allow-Methods = %q", path, got)
		}
	}
}

func TestRESTLimits(t *testing.T) {
	e := newEnv(t, Config{RESTMessagesPerSecond: 1, MaxFrameBytes: 1000})
	hdr := map[string]string{"apikey": token(t, time.Hour)}
	msg := `{"topic":"room1","event":"e","payload":{}}`
	// A batch over the whole burst (5 s at 1/s) can never pass.
	resp, body := post(t, "POST", e.http.URL+"/api/broadcast", hdr, `{"messages":[`+strings.Repeat(msg+",", 5)+msg+`]}`)
	expectStatus(t, "batch of 6", resp, body, http.StatusTooManyRequests,
		`{"message":"Too many messages to broadcast, please reduce the batch size"}`)
	resp, body = post(t, "POST", e.http.URL+"/api/broadcast", hdr, `{"messages":[`+strings.Repeat(msg+",", 3)+msg+`]}`)
	expectStatus(t, "batch of 4", resp, body, http.StatusAccepted, "")
	resp, body = post(t, "POST", e.http.URL+"/api/broadcast/room1/events/e", hdr, `{}`)
	expectStatus(t, "5th message", resp, body, http.StatusAccepted, "")
	resp, body = post(t, "POST", e.http.URL+"/api/broadcast/room1/events/e", hdr, `{}`)
	expectStatus(t, "6th message", resp, body, http.StatusTooManyRequests, `{"message":"Too many requests"}`)

	resp, body = post(t, "POST", e.http.URL+"/api/broadcast/room1/events/e", hdr, `"`+strings.Repeat("x", 1000)+`"`)
	expectStatus(t, "body over MaxFrameBytes", resp, body, http.StatusRequestEntityTooLarge, `{"message":"Request body too large"}`)
}

func TestKeyedLimiterSweeps(t *testing.T) {
	l := newKeyedLimiter(1000)
	for _, ip := range []string{"a", "b", "c"} {
		if !l.take(ip, 1) {
			t.Fatalf("take %s refused", ip)
		}
	}
	// 1 ms later each bucket has its token back: a sweep forgets them all.
	time.Sleep(2 * time.Millisecond)
	l.mu.Lock()
	l.sweep(time.Now())
	n := len(l.buckets)
	l.mu.Unlock()
	if n != 0 {
		t.Errorf("%d buckets left after a sweep, want 0", n)
	}
}
