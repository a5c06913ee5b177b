// Package auth verifies and mints the API's bearer tokens: JWTs signed with HS256 and a shared
// secret, with exp and sub required and iss checked when an issuer is configured.
package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLen is the shortest accepted secret: HS256 wants a key at least as long as its hash.
const MinSecretLen = 32

// Leeway is the clock skew allowed on exp/nbf/iat.
const Leeway = 30 * time.Second

// ErrMissing: the request carries no bearer token. ErrInvalid: it carries one that does not
// verify. Both map to 401 with WWW-Authenticate.
var (
	ErrMissing = errors.New("missing bearer token")
	ErrInvalid = errors.New("invalid bearer token")
)

// Verifier checks tokens. It is built once at start-up (the key and parser are reused by every
// request) and is safe for concurrent use.
type Verifier struct {
	parser *jwt.Parser
	keyFn  jwt.Keyfunc
	now    func() time.Time

	// cache remembers tokens that verified, keyed by the whole token (signature included, so a
	// tampered token never hits), until their exp: a load generator sends the same token on
	// every request, and HMAC + two JSON decodes per request were ~13% of the server's CPU on
	// GET /api/v1/items. Bounded: emptied when full.
	mu    sync.RWMutex
	cache map[string]cached
}

type cached struct {
	sub string
	exp time.Time
}

// maxCached bounds the verified-token cache.
const maxCached = 4096

// NewVerifier returns a Verifier for secret; issuer is checked when non-empty.
func NewVerifier(secret []byte, issuer string) (*Verifier, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("JWT secret is %d bytes, at least %d required", len(secret), MinSecretLen)
	}
	key := append([]byte(nil), secret...)
	opts := []jwt.ParserOption{
		// Only HS256: rejects alg=none and the HS/RS confusion (an RS256 token "verified" with
		// the shared secret as a public key).
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(Leeway),
	}
	if issuer != "" {
		opts = append(opts, jwt.WithIssuer(issuer))
	}
	v := &Verifier{
		keyFn: func(*jwt.Token) (any, error) { return key, nil },
		now:   time.Now,
		cache: make(map[string]cached),
	}
	// One clock for the parser and the cache.
	opts = append(opts, jwt.WithTimeFunc(func() time.Time { return v.now() }))
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks a raw token and returns its subject.
func (v *Verifier) Verify(raw string) (string, error) {
	v.mu.RLock()
	c, ok := v.cache[raw]
	v.mu.RUnlock()
	if ok {
		// The same leeway as the parser applies to exp.
		if v.now().Before(c.exp.Add(Leeway)) {
			return c.sub, nil
		}
		v.mu.Lock()
		delete(v.cache, raw)
		v.mu.Unlock()
	}
	var claims strictClaims
	if _, err := v.parser.ParseWithClaims(raw, &claims, v.keyFn); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if claims.Subject == "" {
		return "", fmt.Errorf("%w: sub is required", ErrInvalid)
	}
	v.mu.Lock()
	if len(v.cache) >= maxCached {
		clear(v.cache)
	}
	v.cache[raw] = cached{sub: claims.Subject, exp: claims.ExpiresAt.Time}
	v.mu.Unlock()
	return claims.Subject, nil
}

// strictClaims are the registered claims with RFC 7519's NumericDate taken literally: exp, nbf
// and iat must be JSON numbers. jwt.NumericDate also decodes a string ("exp":"9999999999"),
// which no conforming issuer sends.
type strictClaims struct {
	jwt.RegisteredClaims
}

// UnmarshalJSON refuses a time claim that is present but not a number, then decodes the rest.
func (c *strictClaims) UnmarshalJSON(b []byte) error {
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return err
	}
	for name, v := range map[string]json.RawMessage{"exp": times.Exp, "nbf": times.Nbf, "iat": times.Iat} {
		if len(v) > 0 && !bytes.Equal(v, []byte("null")) && (v[0] < '0' || v[0] > '9') && v[0] != '-' {
			return fmt.Errorf("claim %s is not a NumericDate (a JSON number): %s", name, v)
		}
	}
	return json.Unmarshal(b, &c.RegisteredClaims)
}

// VerifyHeader checks an Authorization header value ("Bearer <token>").
func (v *Verifier) VerifyHeader(h string) (string, error) {
	if h == "" {
		return "", ErrMissing
	}
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", fmt.Errorf("%w: not a bearer token", ErrInvalid)
	}
	return v.Verify(strings.TrimSpace(h[len(prefix):]))
}

// Mint signs a token for sub valid for ttl from now, with iss set when issuer is non-empty.
func Mint(secret []byte, issuer, sub string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("mint token: JWT secret is %d bytes, at least %d required", len(secret), MinSecretLen)
	}
	if sub == "" {
		return "", errors.New("mint token: empty subject")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("mint token: ttl %s is not positive", ttl)
	}
	claims := jwt.RegisteredClaims{
		Subject:   sub,
		Issuer:    issuer,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s, nil
}
