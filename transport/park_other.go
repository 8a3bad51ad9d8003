//go:build !linux

package transport

import "errors"

// idlePoller needs epoll; elsewhere every connection keeps its read loop.
type idlePoller struct{}

func newIdlePoller() (*idlePoller, error) {
	return nil, errors.New("parking idle connections needs epoll (Linux)")
}

func (p *idlePoller) watch(*conn) error { return errors.ErrUnsupported }
func (p *idlePoller) forget(*conn)      {}
func (p *idlePoller) close()            {}
