package rls

import (
	"fmt"
	"strconv"
	"time"

	"github.com/walcast/walcast/bench/pgchanges"
)

// The channel each user joins, and the key of the column that says whose
// a row is.
const userTopic = "realtime:user"

var ownerKey = []byte(`"owner":`)

// joinFrame is the join of user u's channel: INSERTs on table, filtered by
// owner=eq.u unless table has row security (then the policy decides), with
// the user's token as access_token.
func joinFrame(table string, filtered bool, u int, token string) []byte {
	filter := ""
	if filtered {
		filter = `,"filter":"owner=eq.` + strconv.Itoa(u) + `"`
	}
	return fmt.Appendf(nil, `["1","1","%s","phx_join",{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":%q%s}]},"access_token":%q}]`,
		userTopic, table, filter, token)
}

// userSpec is the users' connections in mode md: one per user, dialed one
// after the other, user u on channel u (the topic is the same for all),
// counting the rows of marker that belong to it and their latency.
func (b *rlsBench) userSpec(md mode, marker int64) pgchanges.Spec {
	return pgchanges.Spec{Topic: userTopic, OneTopic: true, Route: ownerKey, Marker: marker, Latency: true,
		PerConn: 1, Parallel: 1, JoinTimeout: 30 * time.Second,
		Join: func(u int) []byte { return joinFrame(md.table, md.filtered, u, b.tokens[u]) }}
}
