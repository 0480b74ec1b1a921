package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
)

// GuardConfig says who may call each route group of a cloud service: a
// Google-signed OIDC token for one of Audiences from an account of the
// group. Its settings, and the groups, are named in errors as the binary's
// flags name them (auth-audiences, start-invokers, ...).
type GuardConfig struct {
	Audiences []string
	// Emails may call every route group that names no accounts of its
	// own: StartInvokers (the scheduler's /start), PushInvokers (Pub/Sub's
	// pushes) and Operators (reads and operator verbs).
	Emails                                 []string
	StartInvokers, PushInvokers, Operators []string
	// KeysURL replaces Google's ID-token signing keys endpoint, for tests
	// with an issuer of their own.
	KeysURL string
	// NoAuth turns the OIDC check off; it must be asked for by name.
	NoAuth bool
	// PushOnly is for a service that serves only pushes (the cloud
	// worker): it has no start or operator routes to guard.
	PushOnly bool
}

// Groups returns the accounts allowed to call each route group the
// service serves: its own list, or else Emails.
func (c GuardConfig) Groups() map[string][]string {
	or := func(l []string) []string {
		if len(l) > 0 {
			return l
		}
		return c.Emails
	}
	if c.PushOnly {
		return map[string][]string{"push-invokers": or(c.PushInvokers)}
	}
	return map[string][]string{"start-invokers": or(c.StartInvokers), "push-invokers": or(c.PushInvokers), "operators": or(c.Operators)}
}

// Validate returns every problem with c: with the check on, no audience,
// or a route group with no accounts; a KeysURL that is not an http or
// https URL.
func (c GuardConfig) Validate() error {
	var errs []error
	if !c.NoAuth {
		if len(c.Audiences) == 0 {
			errs = append(errs, errors.New("auth-audiences: empty: name the audiences callers' tokens are for (or --insecure-no-auth for loopback development)"))
		}
		groups := c.Groups()
		for _, name := range slices.Sorted(maps.Keys(groups)) {
			if len(groups[name]) == 0 {
				errs = append(errs, fmt.Errorf("%s and auth-emails: empty: name the service accounts allowed to call (or --insecure-no-auth for loopback development)", name))
			}
		}
	}
	if c.KeysURL != "" {
		if u, err := url.Parse(c.KeysURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("auth-keys-url %q: want an http or https URL", c.KeysURL))
		}
	}
	return errors.Join(errs...)
}

// Guards returns the OIDC check of each route group, each accepting only
// its own accounts and bodies of at most limit bytes, or none (with a
// warning) when the check is off.
func (c GuardConfig) Guards(ctx context.Context, limit int64, log *slog.Logger) (Guards, error) {
	if c.NoAuth {
		log.Warn("OIDC authentication is off (--insecure-no-auth): anyone who reaches this service can start runs, push messages and read state")
		return Guards{}, nil
	}
	m := map[string]Middleware{}
	for name, emails := range c.Groups() {
		a, err := NewAuth(ctx, AuthConfig{Audiences: c.Audiences, Emails: emails, KeysURL: c.KeysURL, MaxBodyBytes: limit}, log.With("group", name))
		if err != nil {
			return Guards{}, fmt.Errorf("%s: %w", name, err)
		}
		m[name] = a.Wrap
	}
	return Guards{Start: m["start-invokers"], Push: m["push-invokers"], Operator: m["operators"]}, nil
}
