//go:build !linux

package wsconn

import "errors"

// idlePoller needs epoll; elsewhere every connection keeps its read loop.
type idlePoller struct{}

func newIdlePoller() (*idlePoller, error) {
	return nil, errors.New("parking idle connections needs epoll (Linux)")
}

func (p *idlePoller) watch(*Conn) error { return errors.ErrUnsupported }
func (p *idlePoller) forget(*Conn)      {}
func (p *idlePoller) close()            {}
