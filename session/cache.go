package session

import (
	"container/list"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// CacheSpec bounds the verified-token cache.
type CacheSpec struct {
	// MaxEntries is the most tokens kept; 0 disables the cache.
	MaxEntries int
	// MaxBytes bounds the estimated memory of all entries.
	MaxBytes int64
}

// Cache defaults, and the largest token worth caching.
const (
	DefaultCacheMaxEntries = 10_000
	DefaultCacheMaxBytes   = 32 << 20
	maxCachedTokenBytes    = 8 << 10
)

// cacheKey is the SHA-256 of the raw token, so the cache never holds tokens.
type cacheKey [32]byte

// cacheEntry is one verified token. Entries are read-only once stored.
type cacheEntry struct {
	key        cacheKey
	issuer     *issuer
	generation uint64
	// raw keeps golang-jwt's view of the claims for re-checking exp and nbf
	// on every hit.
	raw    jwt.MapClaims
	claims map[string]any
	cost   int64
}

// tokenCache is an LRU of verified tokens bounded by count and estimated
// bytes. A hit still re-checks the time claims, so an entry is never served
// past the token's exp, and a key set change drops entries made before it.
type tokenCache struct {
	mu         sync.Mutex
	maxEntries int
	maxBytes   int64
	bytes      int64
	order      *list.List
	entries    map[cacheKey]*list.Element
}

func newTokenCache(spec CacheSpec) *tokenCache {
	if spec.MaxEntries <= 0 {
		return nil
	}
	if spec.MaxBytes <= 0 {
		spec.MaxBytes = DefaultCacheMaxBytes
	}
	return &tokenCache{maxEntries: spec.MaxEntries, maxBytes: spec.MaxBytes, order: list.New(), entries: map[cacheKey]*list.Element{}}
}

func (c *tokenCache) get(k cacheKey) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

func (c *tokenCache) remove(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.drop(el)
	}
}

func (c *tokenCache) add(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[e.key]; ok {
		c.drop(el)
	}
	c.entries[e.key] = c.order.PushFront(e)
	c.bytes += e.cost
	for len(c.entries) > c.maxEntries || c.bytes > c.maxBytes {
		c.drop(c.order.Back())
	}
}

func (c *tokenCache) drop(el *list.Element) {
	e := c.order.Remove(el).(*cacheEntry)
	delete(c.entries, e.key)
	c.bytes -= e.cost
}

// len returns the number of cached tokens.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
