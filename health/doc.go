// Package health serves readiness: an HTTP handler that runs named checks
// (is replication live, is the database reachable) and answers 200 when all
// pass and 503 with the reasons otherwise, as load balancers and Kubernetes
// readiness probes expect. Liveness (/healthz, the process is up) needs no
// checks and is served by the transport.
package health
