package transport

// handlePresence handles a client's presence push (track / untrack).
// Presence rooms are not served yet: the push is ignored.
func (ch *channel) handlePresence(m Message) {
	ch.c.debug("ignoring presence: not served yet", "topic", m.Topic)
}
