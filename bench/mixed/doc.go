// Package mixed is the mixed workload: postgres_changes subscriptions with
// combined filters of several operators (in, neq, lt, gt, gte over several
// columns) and subscriptions spread over many tables, each against single
// eq filters on one table measured in the same run.
package mixed
