package limits

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// Limiter is a token bucket per key: each key may make burst requests at
// once and then one request every 1/perSecond seconds. It tracks at most
// maxKeys keys and evicts the least recently used one to make room for a
// new key. A Limiter is safe for concurrent use. A nil *Limiter, like one
// built with a rate of 0, allows every request.
type Limiter struct {
	limit rate.Limit
	burst int
	// now is time.Now outside tests.
	now func() time.Time

	mu sync.Mutex
	// buckets is nil when limiting is disabled.
	buckets *simplelru.LRU[string, *rate.Limiter]
}

// New returns a Limiter that allows perSecond requests per second for each
// key, with bursts of up to burst requests, and remembers at most maxKeys
// keys. A perSecond of 0 disables limiting, and then burst and maxKeys are
// not checked.
//
// Evicting a key drops its bucket, so the key starts again with a full
// burst. When more than maxKeys keys are active within burst/perSecond
// seconds, keys are evicted before their buckets refill and the limit is
// weaker than configured. A key idle for that long has a full bucket, so
// evicting it loses nothing. Each tracked key costs about 160 bytes of heap
// plus the key string and its map slot (B/op of
// BenchmarkLimiterAllow/new_key_every_call, go1.26 on linux/amd64).
func New(perSecond float64, burst, maxKeys int) (*Limiter, error) {
	if perSecond == 0 {
		return &Limiter{}, nil
	}
	if perSecond < 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return nil, fmt.Errorf("rate %v: want 0 (disabled) or a positive number of requests per second", perSecond)
	}
	if burst < 1 {
		return nil, fmt.Errorf("burst %d: want 1 or more", burst)
	}
	if maxKeys < 1 {
		return nil, fmt.Errorf("max keys %d: want 1 or more", maxKeys)
	}

	buckets, err := simplelru.NewLRU[string, *rate.Limiter](maxKeys, nil)
	if err != nil {
		return nil, fmt.Errorf("max keys %d: %v", maxKeys, err)
	}
	return &Limiter{limit: rate.Limit(perSecond), burst: burst, now: time.Now, buckets: buckets}, nil
}

// Allow takes one token from key's bucket. When the bucket is empty, it
// returns false and how long until one token is available, which is always
// above zero. A denied request takes no token, so retrying after retryAfter
// succeeds unless another request for the same key came first.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil || l.buckets == nil {
		return true, 0
	}

	now := l.now()
	bucket := l.bucket(key)
	if bucket.AllowN(now, 1) {
		return true, 0
	}
	return false, l.refillTime(1 - bucket.TokensAt(now))
}

// Len returns the number of keys tracked now, at most maxKeys.
func (l *Limiter) Len() int {
	if l == nil || l.buckets == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buckets.Len()
}

// bucket returns key's token bucket, creating a full one for a new key.
// The lock covers only the LRU list, because rate.Limiter has its own lock.
func (l *Limiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets.Get(key); ok {
		return b
	}
	b := rate.NewLimiter(l.limit, l.burst)
	l.buckets.Add(key, b)
	return b
}

// refillTime returns how long the bucket takes to gain tokens, rounded up
// to the next nanosecond. It returns at least 1ns: another request for the
// same key can refill the bucket between AllowN and TokensAt, and a denial
// must not report zero.
func (l *Limiter) refillTime(tokens float64) time.Duration {
	ns := math.Ceil(tokens / float64(l.limit) * float64(time.Second))
	switch {
	case ns < 1:
		return time.Nanosecond
	case ns >= math.MaxInt64:
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ns)
}

// RetryAfterSeconds formats d as the delay-seconds value of a Retry-After
// header: whole seconds, rounded up, and at least 1, because a delay of 0
// makes clients retry at once.
func RetryAfterSeconds(d time.Duration) string {
	secs := int64(d / time.Second)
	if d%time.Second > 0 {
		secs++
	}
	return strconv.FormatInt(max(secs, 1), 10)
}
