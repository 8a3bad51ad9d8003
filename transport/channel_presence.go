package transport

// joinPresence runs as the channel joins (ch.mu held, after the join reply).
// Presence rooms are not served yet.
func (ch *channel) joinPresence() {}

// leavePresence runs once as the channel stops (without ch.mu).
func (ch *channel) leavePresence() {}

// handlePresence handles a client's presence push (track / untrack).
// Presence rooms are not served yet: the push is ignored.
func (ch *channel) handlePresence(m Message) {
	ch.c.debug("ignoring presence: not served yet", "topic", m.Topic)
}
