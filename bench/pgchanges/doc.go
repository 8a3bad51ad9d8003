// Package pgchanges is the postgres_changes load client of the filters,
// mixed and rls workloads: WebSocket connections that each join a range of
// channels with one postgres_changes binding, count the rows of a marker
// per channel, and check that every row came on the channel it is for.
package pgchanges
