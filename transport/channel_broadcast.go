package transport

// joinRooms enters the channel's broadcast and presence rooms. It runs with
// ch.mu held, right after the join reply was queued, so nothing of the
// rooms reaches the client before the reply. It must not block.
func (ch *channel) joinRooms() {
	ch.roomsJoined = true
	ch.joinPresence()
}

// leaveRooms leaves the rooms joinRooms entered; it runs once, without
// ch.mu, when the channel stops.
func (ch *channel) leaveRooms() {
	ch.leavePresence()
}

// handleBroadcast handles a client's broadcast push (a text "broadcast"
// event, or a binary kind-3 frame on vsn 2.0.0). Broadcast rooms are not
// served yet: the push is ignored, as Supabase ignores what it does not
// serve.
func (ch *channel) handleBroadcast(m Message) {
	ch.c.debug("ignoring broadcast: not served yet", "topic", m.Topic, "binary", m.Binary)
}
