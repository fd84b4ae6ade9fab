package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// JWKSSpec tunes how remote key sets are fetched.
type JWKSSpec struct {
	// RefreshInterval is how often each key set is fetched again.
	RefreshInterval time.Duration
	// UnknownKIDInterval is the shortest time between two fetches caused by
	// tokens with a kid the service has not seen, so a flood of bogus kids
	// costs at most one fetch per interval.
	UnknownKIDInterval time.Duration
	// Timeout bounds each fetch, discovery included.
	Timeout time.Duration
	// MaxBytes bounds the size of a JWKS or discovery document.
	MaxBytes int64
}

// Defaults for JWKSSpec fields left at zero.
const (
	DefaultJWKSRefreshInterval    = 15 * time.Minute
	DefaultJWKSUnknownKIDInterval = 30 * time.Second
	DefaultJWKSTimeout            = 5 * time.Second
	DefaultJWKSMaxBytes           = 512 << 10
)

func (s *JWKSSpec) applyDefaults() {
	if s.RefreshInterval == 0 {
		s.RefreshInterval = DefaultJWKSRefreshInterval
	}
	if s.UnknownKIDInterval == 0 {
		s.UnknownKIDInterval = DefaultJWKSUnknownKIDInterval
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultJWKSTimeout
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = DefaultJWKSMaxBytes
	}
}

// FetchObserver is called after every JWKS or discovery fetch, for metrics.
// kind is "jwks" or "discovery", and err is nil on success.
type FetchObserver func(issuer, kind string, err error)

// remoteKeys is the key set of one issuer that publishes a JWKS, fetched and
// cached by keyfunc/jwkset. This type adds what those libraries leave to the
// caller: OIDC discovery, a size limit, validation of each fetched document
// before it replaces the cached keys, and the state that separates "kid unknown"
// (401) from "keys unavailable" (503).
type remoteKeys struct {
	issuerName string
	issuerURL  string
	discovery  bool
	// jwksURL is the configured key set URL; empty with discovery. It is
	// never changed, because identity reads it from other goroutines.
	jwksURL      string
	spec         JWKSSpec
	client       *http.Client
	base         http.RoundTripper
	log          *slog.Logger
	observe      FetchObserver
	keyfunc      atomic.Pointer[keyfunc.Keyfunc]
	everFetched  atomic.Bool
	lastFetchOK  atomic.Bool
	generation   atomic.Uint64
	mu           sync.Mutex
	lastDocument [32]byte
	// refs counts the verifiers using this key set; a reload hands it to
	// the new verifier, so the cached keys survive the swap.
	refs        atomic.Int32
	cancel      context.CancelFunc
	stopStorage context.CancelFunc
	// fallback is the key set of the same source from the config before a
	// reload that changed its JWKS settings. It verifies tokens until this
	// key set has fetched once, so a reload never starts an issuer cold.
	fallback atomic.Pointer[remoteKeys]
}

// source identifies where the key set comes from.
func (r *remoteKeys) source() string {
	return fmt.Sprintf("%s\x00%s\x00%t", r.issuerURL, r.jwksURL, r.discovery)
}

// identity returns what must match for a reloaded config to keep this key
// set as it is: the same source, fetched the same way.
func (r *remoteKeys) identity() string {
	return fmt.Sprintf("%s\x00%v", r.source(), r.spec)
}

// run starts the key set in the background; release stops it once no
// verifier uses it.
func (r *remoteKeys) run() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.refs.Store(1)
	go r.start(ctx)
}

func (r *remoteKeys) release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.cancel != nil {
		r.cancel()
	}
	if fb := r.fallback.Swap(nil); fb != nil {
		fb.release()
	}
}

// lean makes prev verify tokens for r until r has fetched its own key set.
func (r *remoteKeys) lean(prev *remoteKeys) {
	prev.refs.Add(1)
	r.fallback.Store(prev)
}

func newRemoteKeys(is IssuerSpec, spec JWKSSpec, base http.RoundTripper, log *slog.Logger, observe FetchObserver) *remoteKeys {
	r := &remoteKeys{
		issuerName: is.Name,
		issuerURL:  is.Issuer,
		discovery:  is.Discovery,
		jwksURL:    is.JWKSURL,
		spec:       spec,
		log:        log,
		observe:    observe,
	}
	if base == nil {
		base = http.DefaultTransport
	}
	r.base = base
	r.client = &http.Client{Timeout: spec.Timeout, Transport: &jwksTransport{keys: r, base: base}}
	return r
}

// start discovers the JWKS location if needed and starts the key set, which
// fetches once and then refreshes in the background until ctx ends. Failed
// discovery is retried with backoff; until it succeeds, requests for this
// issuer get jwks_unavailable.
func (r *remoteKeys) start(ctx context.Context) {
	jwksURL := r.jwksURL
	if r.discovery {
		backoff := time.Second
		for {
			discovered, err := r.discover(ctx)
			r.report("discovery", err)
			if err == nil {
				jwksURL = discovered
				break
			}
			r.log.Warn("oidc discovery failed; retrying", "issuer", r.issuerName, "err", err, "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, r.spec.RefreshInterval, time.Minute)
		}
	}

	// The storage fetches once when it is created and then every
	// RefreshInterval. A failed first fetch would leave the issuer without
	// keys until the next interval, so creation is retried with backoff
	// until a fetch succeeds.
	var storage jwkset.Storage
	backoff := time.Second
	for {
		// jwkset starts its refresh goroutine before the first fetch and
		// leaves it running when that fetch fails, so each attempt gets its
		// own context, cancelled when the attempt fails.
		attemptCtx, cancelAttempt := context.WithCancel(ctx)
		var err error
		storage, err = jwkset.NewStorageFromHTTP(jwksURL, jwkset.HTTPClientStorageOptions{
			Client:          r.client,
			Ctx:             attemptCtx,
			HTTPTimeout:     r.spec.Timeout,
			RefreshInterval: r.spec.RefreshInterval,
			RefreshErrorHandler: func(_ context.Context, err error) {
				r.log.Warn("jwks refresh failed; keeping the last good keys", "issuer", r.issuerName, "err", err)
			},
		})
		if err == nil {
			// ctx ends attemptCtx when the key set is released.
			r.stopStorage = cancelAttempt
			break
		}
		cancelAttempt()
		r.log.Warn("jwks fetch failed; retrying", "issuer", r.issuerName, "err", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, r.spec.RefreshInterval, time.Minute)
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: map[string]jwkset.Storage{jwksURL: storage},
		// The wait bound also bounds the refetch itself, so it equals the
		// fetch timeout. A request that would wait longer for the limiter
		// fails at once instead.
		RateLimitWaitMax:  r.spec.Timeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(r.spec.UnknownKIDInterval), 1),
	})
	if err != nil {
		r.log.Error("jwks client could not be created", "issuer", r.issuerName, "err", err)
		return
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: client})
	if err != nil {
		r.log.Error("jwks keyfunc could not be created", "issuer", r.issuerName, "err", err)
		return
	}
	r.keyfunc.Store(&kf)
	if fb := r.fallback.Swap(nil); fb != nil {
		fb.release()
	}
}

// ready reports whether a key set has been fetched at least once.
func (r *remoteKeys) ready() bool {
	if r.everFetched.Load() && r.keyfunc.Load() != nil {
		return true
	}
	fb := r.fallback.Load()
	return fb != nil && fb.ready()
}

// key returns the verification key for t, or an *Error: unknown_key when the
// current key set lacks the kid, jwks_unavailable when no key set could be
// fetched.
func (r *remoteKeys) key(ctx context.Context, t *jwt.Token) (any, error) {
	kf := r.keyfunc.Load()
	if kf == nil || !r.everFetched.Load() {
		if fb := r.fallback.Load(); fb != nil {
			return fb.key(ctx, t)
		}
		return nil, r.unavailable("no key set fetched yet")
	}
	key, err := (*kf).KeyfuncCtx(ctx)(t)
	if err != nil {
		switch {
		case errors.Is(err, jwkset.ErrKeyNotFound) && !r.lastFetchOK.Load():
			return nil, r.unavailable("kid not in the cached keys and the last fetch failed")
		case errors.Is(err, jwkset.ErrKeyNotFound):
			kid, _ := t.Header["kid"].(string)
			return nil, reject(ReasonUnknownKey, "issuer %q publishes no key with kid %q", r.issuerName, kid)
		case strings.Contains(err.Error(), "rate limiter") && !r.lastFetchOK.Load():
			return nil, r.unavailable("kid not in the cached keys, the last fetch failed and the next is not due yet")
		case strings.Contains(err.Error(), "rate limiter"):
			// jwkset wraps the limiter's refusal in a message only; a
			// refetch for an unknown kid ran less than the interval ago.
			kid, _ := t.Header["kid"].(string)
			return nil, reject(ReasonUnknownKey, "issuer %q published no key with kid %q at the last fetch", r.issuerName, kid)
		default:
			return nil, reject(ReasonUnknownKey, "issuer %q: %v", r.issuerName, err)
		}
	}
	alg := t.Method.Alg()
	if set, ok := key.(jwt.VerificationKeySet); ok {
		// A token without kid gets every published key; keep those that
		// fit its alg.
		var fitting []jwt.VerificationKey
		for _, k := range set.Keys {
			if checkKeyFits(k, alg) == nil {
				fitting = append(fitting, k)
			}
		}
		if len(fitting) == 0 {
			return nil, reject(ReasonUnknownKey, "issuer %q publishes no key for alg %s", r.issuerName, alg)
		}
		return jwt.VerificationKeySet{Keys: fitting}, nil
	}
	if err := checkKeyFits(key, alg); err != nil {
		return nil, reject(ReasonAlgorithmNotAllowed, "issuer %q: %v", r.issuerName, err)
	}
	return key, nil
}

func (r *remoteKeys) unavailable(detail string) *Error {
	return &Error{Reason: ReasonKeysUnavailable, Detail: fmt.Sprintf("issuer %q: %s", r.issuerName, detail),
		TokenSent: true, Unavailable: true, RetryAfter: min(r.spec.UnknownKIDInterval, 5*time.Second)}
}

func (r *remoteKeys) report(kind string, err error) {
	if r.observe != nil {
		r.observe(r.issuerName, kind, err)
	}
}

// discover fetches the issuer's OpenID Provider configuration and returns
// its jwks_uri. The document's issuer must equal the configured one exactly
// (OpenID Connect Discovery 1.0, section 4.3).
func (r *remoteKeys) discover(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.spec.Timeout)
	defer cancel()
	docURL := strings.TrimSuffix(r.issuerURL, "/") + "/.well-known/openid-configuration"
	body, err := fetch(ctx, r.base, docURL, r.spec.MaxBytes)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("discovery document is not JSON: %v", err)
	}
	if doc.Issuer != r.issuerURL {
		return "", fmt.Errorf("discovery document names issuer %q, want %q", doc.Issuer, r.issuerURL)
	}
	if err := checkHTTPURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery document jwks_uri: %v", err)
	}
	return doc.JWKSURI, nil
}

// jwksTransport fetches a JWKS within the size limit and checks that it is
// a JSON object with a keys list before jwkset reads it, so a broken
// response fails the fetch and the last good keys stay in place.
type jwksTransport struct {
	keys *remoteKeys
	base http.RoundTripper
}

func (t *jwksTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := fetch(req.Context(), t.base, req.URL.String(), t.keys.spec.MaxBytes)
	if err == nil {
		err = checkJWKS(body)
	}
	t.keys.lastFetchOK.Store(err == nil)
	t.keys.report("jwks", err)
	if err != nil {
		return nil, err
	}
	t.keys.noteDocument(body)
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// noteDocument marks the key set fetched and bumps the generation when its
// content changed, which drops cached verifications made with older keys.
func (r *remoteKeys) noteDocument(body []byte) {
	sum := sha256.Sum256(body)
	r.mu.Lock()
	if sum != r.lastDocument {
		r.lastDocument = sum
		r.generation.Add(1)
	}
	r.mu.Unlock()
	r.everFetched.Store(true)
}

func checkJWKS(body []byte) error {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("jwks is not a JSON object: %v", err)
	}
	if doc.Keys == nil {
		return errors.New("jwks has no keys list")
	}
	return nil
}

// ErrDocumentTooLarge marks a JWKS or discovery document over the size limit.
var ErrDocumentTooLarge = errors.New("document larger than the size limit")

func fetch(ctx context.Context, transport http.RoundTripper, rawURL string, maxBytes int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", rawURL, resp.StatusCode)
	}
	if resp.ContentLength > maxBytes {
		return nil, fmt.Errorf("GET %s: %w (%d > %d bytes)", rawURL, ErrDocumentTooLarge, resp.ContentLength, maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", rawURL, err)
	}
	if int64(len(body)) > maxBytes {
		return nil, fmt.Errorf("GET %s: %w (%d bytes)", rawURL, ErrDocumentTooLarge, maxBytes)
	}
	return body, nil
}

func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %v", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("URL %q must be absolute http or https", raw)
	}
	return nil
}
