package changes

// Stats are a dispatcher's counters, for monitoring.
type Stats struct {
	Sinks      int    // channels with postgres_changes bindings now
	Bindings   int    // their registered bindings
	Deliveries uint64 // changes handed to a sink (one per matching channel)
	Oversized  uint64 // changes over MaxRecordBytes, sent without their large values
	// Row-level security checks (with Config.Authz): deliveries checked
	// and withheld, the per-group queries run, and groups whose check
	// failed (they get nothing of that round).
	RowChecked, RowDenied, RowQueries, RowCheckFailures uint64
}

// Stats returns a snapshot; it is safe to call from any goroutine.
func (d *Dispatcher) Stats() Stats {
	d.mu.RLock()
	st := Stats{Sinks: len(d.sinks), Bindings: len(d.byID)}
	d.mu.RUnlock()
	st.Deliveries = d.deliveries.Load()
	st.Oversized = d.oversized.Load()
	if rc := d.RowChecks(); rc != nil {
		st.RowChecked, st.RowDenied = rc.Checked.Load(), rc.Denied.Load()
		st.RowQueries, st.RowCheckFailures = rc.Queries.Load(), rc.Failures.Load()
	}
	return st
}
