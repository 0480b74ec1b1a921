// Package oidctest signs ID tokens the way Google does (RS256, with a key
// ID) with a key made for the test, and serves the public half as a JWKS,
// for tests of the OIDC checks on push and start endpoints. It imports no
// package of ours.
package oidctest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
)

// KeyID is the key ID an Issuer signs under and publishes.
const KeyID = "test-key-1"

// Issuer holds a signing key and the JWKS server that publishes it.
type Issuer struct {
	Key  *rsa.PrivateKey
	JWKS *httptest.Server
}

// New returns an issuer with a fresh key; its server closes with the test.
func New(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KeyID,
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	t.Cleanup(jwks.Close)
	return &Issuer{Key: key, JWKS: jwks}
}

// Token returns claims signed with the issuer's key under KeyID (RS256).
func (is *Issuer) Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	return Sign(t, is.Key, KeyID, "RS256", claims)
}

// Sign returns a JWT of claims signed with key under kid and alg; alg
// "none" leaves it unsigned.
func Sign(t testing.TB, key *rsa.PrivateKey, kid, alg string, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	unsigned := enc(map[string]string{"alg": alg, "typ": "JWT", "kid": kid}) + "." + enc(claims)
	if alg == "none" {
		return unsigned + "."
	}
	sum := sha256.Sum256([]byte(unsigned))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}
