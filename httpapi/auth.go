package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"

	"tipoff/batch"
)

// TokenValidator checks a Google-signed ID token's signature against
// Google's public keys and its expiry (and, when audience is not empty, its
// audience), and returns its claims. *idtoken.Validator implements it;
// tests give one that trusts a key of their own.
type TokenValidator interface {
	Validate(ctx context.Context, token, audience string) (*idtoken.Payload, error)
}

// googleIssuers are the issuers of Google-signed ID tokens.
var googleIssuers = []string{"https://accounts.google.com", "accounts.google.com"}

// DefaultMaxBodyBytes is the request body limit when [AuthConfig] sets
// none: room for a push envelope of a request or outcome message, which
// are tens of kilobytes.
const DefaultMaxBodyBytes = 4 << 20

// AuthConfig configures [NewAuth].
type AuthConfig struct {
	// Audiences are the values the token's aud claim may take: the
	// service's URL, or the audience set on the push subscription or the
	// scheduler job. At least one.
	Audiences []string
	// Emails are the service accounts allowed to call (the token's email
	// claim, which must be verified). At least one.
	Emails []string
	// Validator checks signatures; nil means Google's keys, fetched and
	// cached by idtoken (from KeysURL when set).
	Validator TokenValidator
	// KeysURL replaces Google's ID-token signing keys endpoint (JWKS), for
	// tests with an issuer of their own.
	KeysURL string
	// MaxBodyBytes bounds request bodies; default [DefaultMaxBodyBytes].
	MaxBodyBytes int64
	// NowFunc is the clock for the expiry check; default time.Now.
	NowFunc func() time.Time
}

// Auth is middleware that lets a request through only with a valid
// Google-signed OIDC token of an allowed caller: what Pub/Sub push
// subscriptions and Cloud Scheduler send in the cloud shape. The embedded
// shape binds to loopback and does not use it.
type Auth struct {
	cfg AuthConfig
	log *slog.Logger
}

// NewAuth returns the middleware for cfg. It returns an error wrapping
// [batch.ErrInvalid] if cfg lacks audiences or emails.
func NewAuth(ctx context.Context, cfg AuthConfig, log *slog.Logger) (*Auth, error) {
	var errs []error
	if len(cfg.Audiences) == 0 || slices.Contains(cfg.Audiences, "") {
		errs = append(errs, fmt.Errorf("%w: auth: Audiences %q: want one or more non-empty audiences", batch.ErrInvalid, cfg.Audiences))
	}
	if len(cfg.Emails) == 0 || slices.Contains(cfg.Emails, "") {
		errs = append(errs, fmt.Errorf("%w: auth: Emails %q: want one or more service account emails", batch.ErrInvalid, cfg.Emails))
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: auth: MaxBodyBytes %d is negative", batch.ErrInvalid, cfg.MaxBodyBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.Validator == nil {
		var opts []option.ClientOption
		if cfg.KeysURL != "" {
			u, err := url.Parse(cfg.KeysURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("%w: auth: KeysURL %q: want an http or https URL", batch.ErrInvalid, cfg.KeysURL)
			}
			opts = append(opts, option.WithHTTPClient(&http.Client{Transport: keysRedirect{to: u}, Timeout: 10 * time.Second}))
			if log != nil {
				log.Warn("ID-token signing keys come from a test issuer", "url", cfg.KeysURL)
			}
		}
		v, err := idtoken.NewValidator(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("auth: token validator: %w", err)
		}
		cfg.Validator = v
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Auth{cfg: cfg, log: log}, nil
}

// keysRedirect sends every request of the ID-token validator to one URL.
type keysRedirect struct{ to *url.URL }

func (k keysRedirect) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL = k.to
	r.Host = k.to.Host
	return http.DefaultTransport.RoundTrip(r)
}

// Wrap returns next behind the check. A request without a bearer token, or
// whose token is malformed, badly signed, expired, or issued by someone
// other than Google or for another audience, gets 401; a valid token of a
// caller not in [AuthConfig.Emails] gets 403. Then a body longer than
// [AuthConfig.MaxBodyBytes] gets 413. In each case next is not called.
// Otherwise next runs with the verified [Caller] in the request's context
// and the body already read (see [LimitBody]).
func (a *Auth) Wrap(next http.Handler) http.Handler {
	limited := LimitBody(a.cfg.MaxBodyBytes, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, status, err := a.verify(r)
		if err != nil {
			a.log.Warn("request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "err", err)
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			}
			http.Error(w, http.StatusText(status), status)
			return
		}
		limited.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), c)))
	})
}

// verify checks r's bearer token and returns its caller, or the status to
// refuse r with and why.
func (a *Auth) verify(r *http.Request) (Caller, int, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Caller{}, http.StatusUnauthorized, errors.New("no Authorization header")
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Caller{}, http.StatusUnauthorized, fmt.Errorf("authorization header is not a bearer token (scheme %.20q)", scheme)
	}
	// The audience is checked below against every allowed one.
	p, err := a.cfg.Validator.Validate(r.Context(), token, "")
	if err != nil {
		return Caller{}, http.StatusUnauthorized, fmt.Errorf("token: %w", err)
	}
	if !slices.Contains(googleIssuers, p.Issuer) {
		return Caller{}, http.StatusUnauthorized, fmt.Errorf("token issued by %q, not Google", p.Issuer)
	}
	if !slices.Contains(a.cfg.Audiences, p.Audience) {
		return Caller{}, http.StatusUnauthorized, fmt.Errorf("token is for audience %q, not this service", p.Audience)
	}
	exp := time.Unix(p.Expires, 0)
	if !a.cfg.NowFunc().Before(exp) {
		return Caller{}, http.StatusUnauthorized, fmt.Errorf("token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	c := Caller{Email: claimString(p.Claims, "email"), Subject: p.Subject, Issuer: p.Issuer, Audience: p.Audience, Expires: exp}
	switch {
	case c.Email == "":
		return Caller{}, http.StatusForbidden, fmt.Errorf("token of subject %q has no email", p.Subject)
	case !claimTrue(p.Claims, "email_verified"):
		return Caller{}, http.StatusForbidden, fmt.Errorf("token email %q is not verified", c.Email)
	case !slices.Contains(a.cfg.Emails, c.Email):
		return Caller{}, http.StatusForbidden, fmt.Errorf("caller %q is not allowed", c.Email)
	}
	return c, 0, nil
}

func claimString(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

// claimTrue reads a boolean claim, which some issuers send as a string.
func claimTrue(claims map[string]any, name string) bool {
	switch v := claims[name].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// RequireToken returns middleware that lets a request through only with
// the header "Authorization: Bearer token", and answers 401 to the rest:
// the operators' credential of "tipoff serve" on an address other than
// loopback. The token sent is compared in constant time (as SHA-256 sums,
// so not even its length shows in the timing). It panics on an empty
// token: a wiring mistake.
func RequireToken(token string, log *slog.Logger) Middleware {
	if token == "" {
		panic("httpapi: RequireToken with an empty token")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				log.Warn("request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "status", http.StatusUnauthorized, "err", "no bearer token, or the wrong one")
				w.Header().Set("WWW-Authenticate", `Bearer realm="tipoff"`)
				http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// LimitBody reads the request body, up to limit bytes, before calling next:
// a longer body (by Content-Length or by what arrives) gets 413 Request
// Entity Too Large, an unreadable one 400, and next is not called. next
// gets the body from memory, so it cannot fail half-way through.
func LimitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			http.Error(w, fmt.Sprintf("request body of %d bytes is larger than %d", r.ContentLength, limit), http.StatusRequestEntityTooLarge)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, fmt.Sprintf("request body is larger than %d bytes", limit), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "request body could not be read", http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// Caller is the verified identity behind a request.
type Caller struct {
	// Email is the service account's email, one of [AuthConfig.Emails].
	Email string
	// Subject is the account's unique ID (the sub claim).
	Subject  string
	Issuer   string
	Audience string
	// Expires is when the token stops being valid.
	Expires time.Time
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller [Auth] verified for the request of ctx, and
// false if there is none (embedded mode, or no auth in front).
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
