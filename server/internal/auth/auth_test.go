package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/benchharness/benchharness/server/internal/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// HS/RS confusion: an attacker signs HS256 with the server's *public* key as the secret,
	// hoping a verifier picks the key by the token's alg. And an RS256 token proper.
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rsaKey.PublicKey))})
	b64 := base64.RawURLEncoding.EncodeToString

	tests := []struct {
		name    string
		issuer  string
		header  string
		wantSub string
		wantErr error
	}{
		{"valid", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": exp}), "alice", nil},
		{"valid lower-case scheme", "", "bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": exp}), "alice", nil},
		{"valid with issuer", "bench", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": exp, "iss": "bench"}), "a", nil},
		{"expired within leeway", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": now.Add(-5 * time.Second).Unix()}), "a", nil},
		{"none", "", "", "", auth.ErrMissing},
		{"not bearer", "", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "", auth.ErrInvalid},
		{"empty bearer", "", "Bearer ", "", auth.ErrInvalid},
		{"malformed", "", "Bearer not.a.jwt", "", auth.ErrInvalid},
		{"malformed base64", "", "Bearer %%%.%%%.%%%", "", auth.ErrInvalid},
		{"wrong signature", "", "Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-123"), jwt.MapClaims{"sub": "a", "exp": exp}), "", auth.ErrInvalid},
		{"alg none", "", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "a", "exp": exp}), "", auth.ErrInvalid},
		{"alg none hand-made", "", "Bearer " + b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"a","exp":9999999999}`)) + ".", "", auth.ErrInvalid},
		{"HS384", "", "Bearer " + sign(t, jwt.SigningMethodHS384, secret, jwt.MapClaims{"sub": "a", "exp": exp}), "", auth.ErrInvalid},
		{"RS256", "", "Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "a", "exp": exp}), "", auth.ErrInvalid},
		{"HS/RS confusion", "", "Bearer " + sign(t, jwt.SigningMethodHS256, pubPEM, jwt.MapClaims{"sub": "a", "exp": exp}), "", auth.ErrInvalid},
		{"expired", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": now.Add(-time.Minute).Unix()}), "", auth.ErrInvalid},
		{"not yet valid", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": exp, "nbf": now.Add(time.Hour).Unix()}), "", auth.ErrInvalid},
		{"missing exp", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a"}), "", auth.ErrInvalid},
		{"missing sub", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": exp}), "", auth.ErrInvalid},
		{"wrong issuer", "bench", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": exp, "iss": "evil"}), "", auth.ErrInvalid},
		{"missing issuer", "bench", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": exp}), "", auth.ErrInvalid},
		{"tampered payload", "", "Bearer " + tamper(sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": exp})), "", auth.ErrInvalid},
		// RFC 7519 §2: NumericDate is a JSON number; jwt's NumericDate also decodes a string.
		{"exp as string", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": "9999999999"}), "", auth.ErrInvalid},
		{"nbf as string", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": exp, "nbf": "0"}), "", auth.ErrInvalid},
		{"iat as string", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": exp, "iat": "0"}), "", auth.ErrInvalid},
		{"exp as fraction", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": float64(exp) + 0.5}), "a", nil},
		{"exp null", "", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a", "exp": nil}), "", auth.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := auth.NewVerifier(secret, tt.issuer)
			if err != nil {
				t.Fatal(err)
			}
			sub, err := v.VerifyHeader(tt.header)
			if tt.wantErr == nil {
				if err != nil || sub != tt.wantSub {
					t.Fatalf("VerifyHeader = %q, %v; want %q, nil", sub, err, tt.wantSub)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || sub != "" {
				t.Fatalf("VerifyHeader = %q, %v; want error %v", sub, err, tt.wantErr)
			}
		})
	}
}

// tamper swaps the payload for one claiming another subject, keeping the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","exp":9999999999}`))
	return strings.Join(parts, ".")
}

func TestMintRoundTrip(t *testing.T) {
	tok, err := auth.Mint(secret, "bench", "loadtest", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(secret, "bench")
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := v.Verify(tok); err != nil || sub != "loadtest" {
		t.Fatalf("Verify(Mint) = %q, %v", sub, err)
	}
	old, err := auth.Mint(secret, "", "x", time.Minute, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(old); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("Verify(expired minted token) = %v, want ErrInvalid", err)
	}
}

func TestShortSecret(t *testing.T) {
	if _, err := auth.NewVerifier(secret[:31], ""); err == nil {
		t.Fatal("NewVerifier accepted a 31-byte secret")
	}
	if _, err := auth.Mint(secret[:31], "", "a", time.Hour, time.Now()); err == nil {
		t.Fatal("Mint accepted a 31-byte secret")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCacheHonoursExpiry checks that a token verified once (and so cached) is rejected after it
// expires, and that the cache never admits a tampered or different token.
func TestCacheHonoursExpiry(t *testing.T) {
	v, err := auth.NewVerifier(secret, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	auth.SetClock(v, func() time.Time { return now })
	tok, err := auth.Mint(secret, "", "a", time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call is served from the cache
		if sub, err := v.Verify(tok); err != nil || sub != "a" {
			t.Fatalf("Verify = %q, %v", sub, err)
		}
	}
	if _, err := v.Verify(tamper(tok)); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("tampered token after caching the original: %v, want ErrInvalid", err)
	}
	now = now.Add(time.Minute + auth.Leeway - time.Second)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("cached token past exp+leeway: %v, want ErrInvalid", err)
	}
}
