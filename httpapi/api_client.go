package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/api/idtoken"

	"tipoff/batch"
)

// Client reads a coordinator's status API: the same answers [Status] gives
// in-process, over HTTP. The embedded "tipoff serve" and the cloud
// coordinator serve the same API.
type Client struct {
	// BaseURL is the coordinator's root, e.g. http://127.0.0.1:8080.
	BaseURL string
	// HTTPClient sends the requests (it may add credentials); default
	// http.DefaultClient. Bound each call with its ctx.
	HTTPClient *http.Client
	// Token, when set, is sent as "Authorization: Bearer Token": the
	// operators' token of a "tipoff serve" (see [RequireToken]).
	Token string
}

// NewClient returns a client of the coordinator's API at base, an http://
// or https:// URL, sending a Google ID token for base (from Application
// Default Credentials) with each request when idToken: what "tipoff
// health", "cancel" and "publish" call a coordinator with. A token, when
// not empty, is sent as the bearer token ([Client.Token]).
func NewClient(ctx context.Context, base string, idToken bool, token string) (*Client, error) {
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("coordinator %q: want an http:// or https:// URL", base)
	}
	hc := http.DefaultClient
	if idToken {
		c, err := idtoken.NewClient(ctx, strings.TrimRight(base, "/"))
		if err != nil {
			return nil, fmt.Errorf("ID token for %s: %w", base, err)
		}
		hc = c
	}
	return &Client{BaseURL: base, HTTPClient: hc, Token: token}, nil
}

// ServiceInfo is what a coordinator's GET /health says about itself. Fields
// it does not report stay empty.
type ServiceInfo struct {
	Program string `json:"program"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// Status is the HTTP status of GET /health.
	Status int `json:"-"`
}

// Health calls GET /health. It returns an error when the coordinator cannot
// be reached or answers with a server error; a 404 (no /health route) is not
// an error, and Status says what came back.
func (c *Client) Health(ctx context.Context) (ServiceInfo, error) {
	body, code, err := c.get(ctx, "/health")
	if err != nil {
		return ServiceInfo{}, err
	}
	info := ServiceInfo{Status: code}
	if code >= 500 {
		return info, fmt.Errorf("GET %s/health: %d %s: %s", c.BaseURL, code, http.StatusText(code), errorText(body))
	}
	if code == http.StatusOK {
		_ = json.Unmarshal(body, &info) // a /health that is not JSON still shows it is up
	}
	return info, nil
}

// ListBatches calls GET /api/batches with opts as query parameters.
func (c *Client) ListBatches(ctx context.Context, opts batch.ListOptions) (BatchList, error) {
	q := url.Values{}
	if opts.Date != "" {
		q.Set("date", opts.Date)
	}
	if opts.Run != "" {
		q.Set("run", opts.Run)
	}
	if opts.State != "" {
		q.Set("state", string(opts.State))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	path := "/api/batches"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l BatchList
	return l, c.getJSON(ctx, path, &l)
}

// Batch calls GET /api/batches/{id}. A 404 comes back as an error wrapping
// [batch.ErrNotFound].
func (c *Client) Batch(ctx context.Context, id string) (BatchReport, error) {
	var r BatchReport
	return r, c.getJSON(ctx, "/api/batches/"+url.PathEscape(id), &r)
}

// Queue calls GET /api/queue.
func (c *Client) Queue(ctx context.Context) (QueueReport, error) {
	var r QueueReport
	return r, c.getJSON(ctx, "/api/queue", &r)
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	body, code, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		kind := kindOfStatus(code)
		if kind == nil {
			return fmt.Errorf("GET %s%s: %d %s: %s", c.BaseURL, path, code, http.StatusText(code), errorText(body))
		}
		return fmt.Errorf("GET %s%s: %w: %s", c.BaseURL, path, kind, errorText(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s%s: response is not the status API's JSON: %v", c.BaseURL, path, err)
	}
	return nil
}

// maxResponse bounds what the client reads of one response.
const maxResponse = 32 << 20

// Cancel calls POST /batches/{id}/cancel, ending a running batch as
// cancelled with reason. Errors wrap the kind the coordinator answered
// with: [batch.ErrNotFound] for an unknown batch, [batch.ErrConflict] for
// one that has ended.
func (c *Client) Cancel(ctx context.Context, id, reason string) (CancelResponse, error) {
	path := "/batches/" + url.PathEscape(id) + "/cancel"
	body, err := json.Marshal(CancelRequest{Reason: reason})
	if err != nil {
		return CancelResponse{}, err
	}
	resp, code, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return CancelResponse{}, err
	}
	if code != http.StatusOK {
		if kind := kindOfStatus(code); kind != nil {
			return CancelResponse{}, fmt.Errorf("POST %s%s: %w: %s", c.BaseURL, path, kind, errorText(resp))
		}
		return CancelResponse{}, fmt.Errorf("POST %s%s: %d %s: %s", c.BaseURL, path, code, http.StatusText(code), errorText(resp))
	}
	var out CancelResponse
	if err := json.Unmarshal(resp, &out); err != nil {
		return CancelResponse{}, fmt.Errorf("POST %s%s: response is not JSON: %v", c.BaseURL, path, err)
	}
	return out, nil
}

// Publish calls POST /batches/{id}/publish, making a finalized batch the
// date's publication, pinned unless unpin. Errors wrap the kind the
// coordinator answered with: [batch.ErrNotFound] for an unknown batch,
// [batch.ErrConflict] for one that has not finalized.
func (c *Client) Publish(ctx context.Context, id string, unpin bool) (PublishResponse, error) {
	var out PublishResponse
	return out, c.postJSON(ctx, "/batches/"+url.PathEscape(id)+"/publish", PublishRequest{Unpin: unpin}, &out)
}

// postJSON posts in as JSON to path and decodes a 200 answer into out.
func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, code, err := c.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		if kind := kindOfStatus(code); kind != nil {
			return fmt.Errorf("POST %s%s: %w: %s", c.BaseURL, path, kind, errorText(resp))
		}
		return fmt.Errorf("POST %s%s: %d %s: %s", c.BaseURL, path, code, http.StatusText(code), errorText(resp))
	}
	if err := json.Unmarshal(resp, out); err != nil {
		return fmt.Errorf("POST %s%s: response is not JSON: %v", c.BaseURL, path, err)
	}
	return nil
}

func (c *Client) get(ctx context.Context, path string) ([]byte, int, error) {
	return c.do(ctx, http.MethodGet, path, nil)
}

// do sends one request with body (nil for none) and returns the response's
// body and status.
func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, int, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("coordinator URL %q: %w", c.BaseURL, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s%s: read response: %w", method, base, path, err)
	}
	return out, resp.StatusCode, nil
}

// kindOfStatus maps a status code back onto the error kind the server
// mapped onto it; nil for the others.
func kindOfStatus(code int) error {
	switch code {
	case http.StatusNotFound:
		return batch.ErrNotFound
	case http.StatusBadRequest:
		return batch.ErrInvalid
	case http.StatusConflict:
		return batch.ErrConflict
	}
	return nil
}

// errorText returns the message of an API error body, or the body itself,
// shortened.
func errorText(body []byte) string {
	var e apiError
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
