package transport

import (
	"net/http"
	"testing"
	"time"

	"github.com/walcast/walcast/phoenix"
)

func TestOriginPolicy(t *testing.T) {
	tests := []struct {
		allowed []string
		origin  string
		want    bool
	}{
		{nil, "https://evil.example", true},
		{[]string{"*"}, "https://evil.example", true},
		{[]string{"https://app.example.com"}, "https://app.example.com", true},
		{[]string{"https://app.example.com/"}, "HTTPS://APP.EXAMPLE.COM", true},
		{[]string{"https://app.example.com"}, "http://app.example.com", false},
		{[]string{"https://app.example.com"}, "https://app.example.com.evil.net", false},
		{[]string{"https://app.example.com"}, "", true}, // not a browser
		{[]string{"*.example.com"}, "https://a.b.example.com", true},
		{[]string{"*.example.com"}, "https://example.com", false},
		{[]string{"*.example.com"}, "https://badexample.com", false},
		{[]string{"*.example.com"}, "null", false},
	}
	for _, tc := range tests {
		r, _ := http.NewRequest("GET", "/", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := newOriginPolicy(tc.allowed).allows(r); got != tc.want {
			t.Errorf("allowed %q, Origin %q: %v, want %v", tc.allowed, tc.origin, got, tc.want)
		}
	}
}

// With AllowedOrigins, a page of another origin cannot open a socket, a
// feed or publish; an allowed page and a server (no Origin) can.
func TestAllowedOriginsRefuseOthers(t *testing.T) {
	e := newEnv(t, Config{AllowedOrigins: []string{"https://app.example.com"}})
	key := token(t, time.Hour)
	for _, tc := range []struct {
		name, method, path, origin string
		want                       int
	}{
		{"socket from another origin", "GET", "/realtime/v1/websocket?apikey=" + key + "&vsn=2.0.0", "https://evil.example", http.StatusForbidden},
		{"feed from another origin", "GET", "/realtime/v1/poll?apikey=" + key + "&table=t&wait=0", "https://evil.example", http.StatusForbidden},
		{"REST from another origin", "POST", "/api/broadcast/room/events/e", "https://evil.example", http.StatusForbidden},
		{"REST from the app", "POST", "/api/broadcast/room/events/e", "https://app.example.com", http.StatusAccepted},
		{"REST from a server", "POST", "/api/broadcast/room/events/e", "", http.StatusAccepted},
	} {
		hdr := map[string]string{"Authorization": "Bearer " + key}
		if tc.origin != "" {
			hdr["Origin"] = tc.origin
		}
		resp, body := post(t, tc.method, e.http.URL+tc.path, hdr, `{}`)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	// A socket without an Origin header (the test client sends none) connects.
	c := e.dial(t, phoenix.V2)
	c.joinRoom("realtime:room", "1", false, false, false)
}
