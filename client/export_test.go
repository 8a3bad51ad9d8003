package client

import "testing"

// StartTestServer starts Postgres and a walcast server in process for the
// external tests and returns the database URL, the server's URL and the
// JWT secret that signs its apikeys.
func StartTestServer(t *testing.T) (dbURL, realtimeURL, jwtSecret string) {
	e := newEnv(t, true)
	return e.dbURL, e.http.URL, string(testSecret)
}
