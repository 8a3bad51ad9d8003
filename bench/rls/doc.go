// Package rls is the rls workload: postgres_changes delivered under
// row-level security, each change checked against the policy of every
// subscriber's role and claims, against the same subscribers receiving the
// same rows from a table without row security through an eq filter.
package rls
