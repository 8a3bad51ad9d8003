package transport

import (
	"net/http"
	"net/url"
	"strings"
)

// originPolicy decides which browser origins may connect, from
// Config.AllowedOrigins. Empty allows any origin, as Supabase does: the
// apikey, not the Origin header, authorizes a connection. Requests without
// an Origin header (servers, the Go client, curl) are never refused: the
// header only tells what a browser page is, and only a browser sends it.
type originPolicy struct {
	any   bool
	exact map[string]bool // scheme://host[:port], lower case
	wild  []string        // "*.example.com" as ".example.com": any subdomain, any scheme
}

func newOriginPolicy(allowed []string) originPolicy {
	p := originPolicy{exact: make(map[string]bool)}
	for _, o := range allowed {
		o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
		switch {
		case o == "":
		case o == "*":
			p.any = true
		case strings.HasPrefix(o, "*."):
			p.wild = append(p.wild, o[1:])
		default:
			p.exact[o] = true
		}
	}
	if len(p.exact) == 0 && len(p.wild) == 0 {
		p.any = true
	}
	return p
}

// allows reports whether r's Origin may connect.
func (p originPolicy) allows(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if p.any || origin == "" {
		return true
	}
	origin = strings.ToLower(origin)
	if p.exact[origin] {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	host := u.Hostname()
	for _, suffix := range p.wild {
		if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
			return true
		}
	}
	return false
}

// refuseOrigins answers 403 to a browser request from an origin that is not
// allowed, before any route: WebSocket upgrades (which wsconn checks too),
// SSE, long-polls, REST and their CORS preflights.
func (s *Server) refuseOrigins(next http.Handler) http.Handler {
	if s.origins.any {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.origins.allows(r) {
			s.stats.rejected.Add(1)
			s.handshakeRefused(r, http.StatusForbidden, "origin not allowed")
			writeError(w, http.StatusForbidden, "origin "+r.Header.Get("Origin")+" is not allowed (--allowed-origins)")
			return
		}
		next.ServeHTTP(w, r)
	})
}
