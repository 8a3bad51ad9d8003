package transport

// handleBroadcast handles a client's broadcast push (a text "broadcast"
// event, or a binary kind-3 frame on vsn 2.0.0). Broadcast rooms are not
// served yet: the push is ignored, as Supabase ignores what it does not
// serve.
func (ch *channel) handleBroadcast(m Message) {
	ch.c.debug("ignoring broadcast: not served yet", "topic", m.Topic, "binary", m.Binary)
}
