// Package limits resolves the client address of a request behind trusted
// reverse proxies and rate-limits requests per key, such as a client address
// or a session subject.
//
// Nothing in this package logs. Keys can be addresses or user IDs, so the
// caller decides what reaches the log.
//
// Each replica keeps its own buckets. Behind a load balancer that spreads
// requests over n replicas, a client can make up to about n times the
// configured rate in total, and the total changes as the autoscaler adds or
// removes replicas.
package limits
