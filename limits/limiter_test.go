package limits

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when a test advances it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestLimiter returns a Limiter that reads its time from the returned
// clock.
func newTestLimiter(t *testing.T, perSecond float64, burst, maxKeys int) (*Limiter, *fakeClock) {
	t.Helper()
	l, err := New(perSecond, burst, maxKeys)
	if err != nil {
		t.Fatalf("New(%v, %d, %d) error = %v", perSecond, burst, maxKeys, err)
	}
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l.now = clock.Now
	return l, clock
}

// step is one call to Allow, after moving the clock by advance.
type step struct {
	advance   time.Duration
	key       string
	wantOK    bool
	wantRetry time.Duration
}

func TestLimiterAllow(t *testing.T) {
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		maxKeys   int
		steps     []step
	}{
		{
			name:      "burst is allowed then denied with retry",
			perSecond: 1, burst: 3, maxKeys: 10,
			steps: []step{
				{key: "a", wantOK: true},
				{key: "a", wantOK: true},
				{key: "a", wantOK: true},
				{key: "a", wantOK: false, wantRetry: time.Second},
				{key: "a", wantOK: false, wantRetry: time.Second},
			},
		},
		{
			name:      "bucket refills after one interval",
			perSecond: 20, burst: 1, maxKeys: 10,
			steps: []step{
				{key: "a", wantOK: true},
				{key: "a", wantOK: false, wantRetry: 50 * time.Millisecond},
				{advance: 50 * time.Millisecond, key: "a", wantOK: true},
				{key: "a", wantOK: false, wantRetry: 50 * time.Millisecond},
			},
		},
		{
			name:      "partial refill is denied with the remaining wait",
			perSecond: 20, burst: 1, maxKeys: 10,
			steps: []step{
				{key: "a", wantOK: true},
				{advance: 30 * time.Millisecond, key: "a", wantOK: false, wantRetry: 20 * time.Millisecond},
				{advance: 20 * time.Millisecond, key: "a", wantOK: true},
			},
		},
		{
			name:      "denials take no token",
			perSecond: 1, burst: 1, maxKeys: 10,
			steps: []step{
				{key: "a", wantOK: true},
				{advance: 300 * time.Millisecond, key: "a", wantOK: false, wantRetry: 700 * time.Millisecond},
				{advance: 300 * time.Millisecond, key: "a", wantOK: false, wantRetry: 400 * time.Millisecond},
				{advance: 400 * time.Millisecond, key: "a", wantOK: true},
			},
		},
		{
			name:      "refill stops at burst",
			perSecond: 10, burst: 2, maxKeys: 10,
			steps: []step{
				{key: "a", wantOK: true},
				{key: "a", wantOK: true},
				{advance: time.Hour, key: "a", wantOK: true},
				{key: "a", wantOK: true},
				{key: "a", wantOK: false, wantRetry: 100 * time.Millisecond},
			},
		},
		{
			name:      "keys have separate buckets",
			perSecond: 1, burst: 1, maxKeys: 10,
			steps: []step{
				{key: "203.0.113.7", wantOK: true},
				{key: "203.0.113.7", wantOK: false, wantRetry: time.Second},
				{key: "203.0.113.8", wantOK: true},
				{key: "user-1", wantOK: true},
				{key: "user-1", wantOK: false, wantRetry: time.Second},
				{key: "203.0.113.8", wantOK: false, wantRetry: time.Second},
			},
		},
		{
			name:      "empty key is a key like any other",
			perSecond: 1, burst: 1, maxKeys: 10,
			steps: []step{
				{key: "", wantOK: true},
				{key: "", wantOK: false, wantRetry: time.Second},
				{key: "a", wantOK: true},
			},
		},
		{
			name:      "slow rate gives a long retry",
			perSecond: 1.0 / 60, burst: 1, maxKeys: 10,
			steps: []step{
				{key: "a", wantOK: true},
				{advance: 15 * time.Second, key: "a", wantOK: false, wantRetry: 45 * time.Second},
			},
		},
		{
			name:      "zero rate allows everything",
			perSecond: 0, burst: 0, maxKeys: 0,
			steps: []step{
				{key: "a", wantOK: true},
				{key: "a", wantOK: true},
				{key: "a", wantOK: true},
				{key: "b", wantOK: true},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.perSecond, tc.burst, tc.maxKeys)
			if err != nil {
				t.Fatalf("New(%v, %d, %d) error = %v", tc.perSecond, tc.burst, tc.maxKeys, err)
			}
			clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			l.now = clock.Now

			for i, s := range tc.steps {
				clock.Advance(s.advance)
				ok, retry := l.Allow(s.key)
				if ok != s.wantOK {
					t.Fatalf("step %d: Allow(%q) ok = %v, want %v", i, s.key, ok, s.wantOK)
				}
				if ok && retry != 0 {
					t.Errorf("step %d: Allow(%q) = true, retryAfter %v; want 0", i, s.key, retry)
				}
				if !ok && !closeTo(retry, s.wantRetry) {
					t.Errorf("step %d: Allow(%q) = false, retryAfter %v; want %v", i, s.key, retry, s.wantRetry)
				}
			}
		})
	}
}

// closeTo reports whether got is positive, not below want, and at most 1µs
// above it. Token counts are float64, so the wait is a few ns off.
func closeTo(got, want time.Duration) bool {
	return got > 0 && got >= want && got-want <= time.Microsecond
}

func TestLimiterRetryAfterIsPositive(t *testing.T) {
	l, clock := newTestLimiter(t, 1e9, 1, 10)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("first Allow(a) = false, want true")
	}
	ok, retry := l.Allow("a")
	if ok {
		t.Fatal("second Allow(a) at the same instant = true, want false")
	}
	if retry <= 0 {
		t.Errorf("Allow(a) retryAfter = %v, want above 0", retry)
	}
	clock.Advance(retry)
	if ok, retry := l.Allow("a"); !ok {
		t.Errorf("Allow(a) after waiting retryAfter = false, retryAfter %v; want true", retry)
	}
}

func TestLimiterRealClockRefills(t *testing.T) {
	l, err := New(10, 1, 10)
	if err != nil {
		t.Fatalf("New error = %v", err)
	}

	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("first Allow(a) = false, want true")
	}
	ok, retry := l.Allow("a")
	if ok {
		t.Fatal("second Allow(a) = true, want false")
	}
	if retry <= 0 || retry > 100*time.Millisecond {
		t.Errorf("Allow(a) retryAfter = %v, want in (0, 100ms]", retry)
	}

	time.Sleep(retry + 20*time.Millisecond)
	if ok, retry := l.Allow("a"); !ok {
		t.Errorf("Allow(a) after sleeping = false, retryAfter %v; want true", retry)
	}
}

func TestLimiterEviction(t *testing.T) {
	t.Run("third key evicts the least recently used", func(t *testing.T) {
		l, _ := newTestLimiter(t, 1, 1, 2)
		for _, key := range []string{"a", "b", "c"} {
			if ok, _ := l.Allow(key); !ok {
				t.Fatalf("first Allow(%q) = false, want true", key)
			}
		}
		if got := l.Len(); got != 2 {
			t.Errorf("Len() = %d, want 2", got)
		}

		// a was evicted, so it starts again with a full bucket.
		if ok, _ := l.Allow("a"); !ok {
			t.Error("Allow(a) after eviction = false, want true from a new bucket")
		}
		// c was kept and is still empty.
		if ok, _ := l.Allow("c"); ok {
			t.Error("Allow(c) = true, want false from its drained bucket")
		}
		if got := l.Len(); got != 2 {
			t.Errorf("Len() = %d, want 2", got)
		}
	})

	t.Run("recently used key is kept", func(t *testing.T) {
		l, _ := newTestLimiter(t, 1, 1, 2)
		l.Allow("a")
		l.Allow("b")
		l.Allow("a") // a is now the most recently used, so c evicts b.
		l.Allow("c")

		if ok, _ := l.Allow("a"); ok {
			t.Error("Allow(a) = true, want false because a was kept with a drained bucket")
		}
		if ok, _ := l.Allow("b"); !ok {
			t.Error("Allow(b) = false, want true because b was evicted")
		}
	})

	t.Run("many keys stay within the bound", func(t *testing.T) {
		l, _ := newTestLimiter(t, 1, 1, 100)
		for i := range 10_000 {
			l.Allow(fmt.Sprintf("key-%d", i))
			if got := l.Len(); got > 100 {
				t.Fatalf("Len() after %d keys = %d, want at most 100", i+1, got)
			}
		}
	})
}

func TestLimiterDisabled(t *testing.T) {
	l, err := New(0, 0, 0)
	if err != nil {
		t.Fatalf("New(0, 0, 0) error = %v", err)
	}
	var nilLimiter *Limiter

	for name, lim := range map[string]*Limiter{"zero rate": l, "nil limiter": nilLimiter} {
		t.Run(name, func(t *testing.T) {
			for i := range 1000 {
				ok, retry := lim.Allow("a")
				if !ok || retry != 0 {
					t.Fatalf("call %d: Allow(a) = %v, %v; want true, 0", i, ok, retry)
				}
			}
			if got := lim.Len(); got != 0 {
				t.Errorf("Len() = %d, want 0 because nothing is tracked", got)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name      string
		perSecond float64
		burst     int
		maxKeys   int
		wantErr   string
	}{
		{name: "positive settings are accepted", perSecond: 5, burst: 10, maxKeys: 10_000},
		{name: "fractional rate is accepted", perSecond: 0.5, burst: 1, maxKeys: 1},
		{name: "zero rate ignores burst and keys", perSecond: 0, burst: -1, maxKeys: -1},
		{name: "negative rate is rejected", perSecond: -1, burst: 1, maxKeys: 1, wantErr: "rate -1: want 0 (disabled) or a positive number of requests per second"},
		{name: "NaN rate is rejected", perSecond: math.NaN(), burst: 1, maxKeys: 1, wantErr: "rate NaN: want 0 (disabled) or a positive number of requests per second"},
		{name: "infinite rate is rejected", perSecond: math.Inf(1), burst: 1, maxKeys: 1, wantErr: "rate +Inf: want 0 (disabled) or a positive number of requests per second"},
		{name: "zero burst is rejected", perSecond: 1, burst: 0, maxKeys: 1, wantErr: "burst 0: want 1 or more"},
		{name: "zero max keys is rejected", perSecond: 1, burst: 1, maxKeys: 0, wantErr: "max keys 0: want 1 or more"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.perSecond, tc.burst, tc.maxKeys)
			if tc.wantErr == "" {
				if err != nil || l == nil {
					t.Fatalf("New(%v, %d, %d) = %v, %v; want a limiter", tc.perSecond, tc.burst, tc.maxKeys, l, err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("New(%v, %d, %d) error = %v, want %q", tc.perSecond, tc.burst, tc.maxKeys, err, tc.wantErr)
			}
		})
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{d: -time.Second, want: "1"},
		{d: 0, want: "1"},
		{d: time.Nanosecond, want: "1"},
		{d: 50 * time.Millisecond, want: "1"},
		{d: time.Second, want: "1"},
		{d: time.Second + time.Nanosecond, want: "2"},
		{d: 2500 * time.Millisecond, want: "3"},
		{d: time.Minute, want: "60"},
		{d: time.Duration(math.MaxInt64), want: "9223372037"},
	}
	for _, tc := range tests {
		t.Run(tc.d.String(), func(t *testing.T) {
			if got := RetryAfterSeconds(tc.d); got != tc.want {
				t.Errorf("RetryAfterSeconds(%v) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

func TestLimiterConcurrent(t *testing.T) {
	t.Run("frozen clock allows exactly burst per key", func(t *testing.T) {
		const (
			burst      = 50
			keys       = 4
			goroutines = 16
			calls      = 100
		)
		l, _ := newTestLimiter(t, 1, burst, keys)

		var mu sync.Mutex
		allowed := map[string]int{}
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range calls {
					key := fmt.Sprintf("key-%d", (g+i)%keys)
					ok, retry := l.Allow(key)
					if !ok && retry <= 0 {
						t.Errorf("Allow(%q) = false, retryAfter %v; want above 0", key, retry)
					}
					if ok {
						mu.Lock()
						allowed[key]++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()

		for k := range keys {
			key := fmt.Sprintf("key-%d", k)
			if got := allowed[key]; got != burst {
				t.Errorf("allowed requests for %q = %d, want %d", key, got, burst)
			}
		}
	})

	t.Run("eviction under contention keeps the bound", func(t *testing.T) {
		l, err := New(1000, 5, 8)
		if err != nil {
			t.Fatalf("New error = %v", err)
		}
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := range 500 {
					l.Allow(strings.Repeat("k", (g*31+i)%40))
					if got := l.Len(); got > 8 {
						t.Errorf("Len() = %d, want at most 8", got)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

func BenchmarkLimiterAllow(b *testing.B) {
	// addresses are 4096 distinct client addresses.
	addresses := make([]string, 4096)
	for i := range addresses {
		addresses[i] = fmt.Sprintf("203.0.%d.%d", i/256, i%256)
	}

	b.Run("one key", func(b *testing.B) {
		l, err := New(1e9, 1_000_000, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			l.Allow("203.0.113.7")
		}
	})

	b.Run("known keys", func(b *testing.B) {
		l, err := New(1e9, 1_000_000, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Allow(addresses[i%len(addresses)])
			i++
		}
	})

	// Each call evicts a key and builds a new bucket, so B/op is roughly
	// the memory of one tracked key, not counting the key string.
	b.Run("new key every call", func(b *testing.B) {
		l, err := New(1e9, 1_000_000, 1024)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			l.Allow(addresses[i%len(addresses)])
			i++
		}
	})

	b.Run("known keys parallel", func(b *testing.B) {
		l, err := New(1e9, 1_000_000, 10_000)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				l.Allow(addresses[i%len(addresses)])
				i++
			}
		})
	})
}
