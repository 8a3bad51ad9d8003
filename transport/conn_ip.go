package transport

import "sync"

// ipConns counts the WebSockets and feeds open from each client address, for
// Config.MaxConnsPerIP. Forwarding headers are not trusted (clientIP), so
// behind a proxy every client shares the proxy's address: leave the bound
// off there, or set it to what the proxy may hold.
type ipConns struct {
	mu sync.Mutex
	n  map[string]int
}

// admit counts one more connection from ip unless limit are open (limit
// <= 0: no bound).
func (p *ipConns) admit(ip string, limit int) bool {
	if limit <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = make(map[string]int)
	}
	if p.n[ip] >= limit {
		return false
	}
	p.n[ip]++
	return true
}

// release forgets one connection from ip that admit counted.
func (p *ipConns) release(ip string, limit int) {
	if limit <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip] <= 1 {
		delete(p.n, ip)
	} else {
		p.n[ip]--
	}
}
