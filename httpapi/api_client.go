package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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

func (c *Client) get(ctx context.Context, path string) ([]byte, int, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("coordinator URL %q: %w", c.BaseURL, err)
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s%s: read response: %w", base, path, err)
	}
	return body, resp.StatusCode, nil
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
