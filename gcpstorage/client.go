package gcpstorage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
	storage "google.golang.org/api/storage/v1"
)

// EmulatorHostEnv names the environment variable that points the client at
// a Cloud Storage emulator (host:port, or a URL), as the official client
// library reads it.
const EmulatorHostEnv = "STORAGE_EMULATOR_HOST"

// Client calls Cloud Storage's JSON API (google.golang.org/api/storage/v1):
// the few object calls [Data] and [Exporter] make. Reads and listings are
// tried again on transient failures (HTTP 408, 429, 5xx, a reset
// connection), as are uploads, whose generation conditions keep a retry
// from writing twice; a download cut off midway reads on from where it
// stopped, at the same generation. A Client is safe for concurrent use and needs no
// closing.
type Client struct {
	svc *storage.Service
}

// NewClient returns a client with Application Default Credentials, or, when
// STORAGE_EMULATOR_HOST is set, one of that emulator ([NewEmulatorClient]).
func NewClient(ctx context.Context) (*Client, error) {
	if host := os.Getenv(EmulatorHostEnv); host != "" {
		return NewEmulatorClient(ctx, host)
	}
	svc, err := storage.NewService(ctx)
	if err != nil {
		return nil, err
	}
	return &Client{svc: svc}, nil
}

// NewEmulatorClient returns a client of the emulator at host (host:port, or
// a URL such as http://host:port), without authentication: its API at
// http://host/storage/v1/ and its uploads at http://host/upload/storage/v1/.
func NewEmulatorClient(ctx context.Context, host string) (*Client, error) {
	u := &url.URL{Scheme: "http", Host: host}
	if strings.Contains(host, "://") {
		p, err := url.Parse(host)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", EmulatorHostEnv, host, err)
		}
		u = p
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s=%q names no host", EmulatorHostEnv, host)
	}
	u.Path = "/storage/v1/"
	svc, err := storage.NewService(ctx, option.WithEndpoint(u.String()), option.WithoutAuthentication())
	if err != nil {
		return nil, err
	}
	return &Client{svc: svc}, nil
}

// maxTries bounds how often a call is made when it keeps failing
// transiently.
const maxTries = 5

// transient reports whether err is worth another try: a throttled or
// failed server, or a connection lost on the way.
func transient(err error) bool {
	var gerr *googleapi.Error
	if errors.As(err, &gerr) {
		return gerr.Code == http.StatusRequestTimeout || gerr.Code == http.StatusTooManyRequests || gerr.Code >= 500
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr) && nerr.Timeout()
}

// retry calls f until it succeeds, fails for good, has failed [maxTries]
// times or ctx ends, pausing longer after each transient failure.
func retry(ctx context.Context, f func() error) error {
	pause := 100 * time.Millisecond
	for try := 1; ; try++ {
		err := f()
		if err == nil || try == maxTries || !transient(err) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(3*pause, 5*time.Second)
	}
}

// notFound reports whether err is Cloud Storage saying there is no such
// object (HTTP 404).
func notFound(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusNotFound
}

// attrs returns the named object's attributes, only the fields named (all
// when none are).
func (c *Client) attrs(ctx context.Context, bucket, name string, fields ...googleapi.Field) (*storage.Object, error) {
	var o *storage.Object
	err := retry(ctx, func() (err error) {
		call := c.svc.Objects.Get(bucket, name).Context(ctx)
		if len(fields) > 0 {
			call = call.Fields(fields...)
		}
		o, err = call.Do()
		return err
	})
	return o, err
}

// objectReader is an object's content being read, with what its response
// said about it. A read that breaks off with a transient error (a
// connection reset, a short body) reads on from where it stopped, pinned
// to the generation it began with, up to [maxTries] times in all.
type objectReader struct {
	c            *Client
	ctx          context.Context
	bucket, name string
	body         io.ReadCloser
	generation   int64
	modTime      time.Time
	off          int64 // bytes read so far
	tries        int
	// resumable is false when the transport decompressed the body: its
	// offsets are not the object's.
	resumable bool
	err       error // why reading on failed: every Read's error from then on
}

// open starts reading the named object: its generation generation, or
// the live one if generation is 0. A missing object (or generation) is an
// error for which [notFound] holds.
func (c *Client) open(ctx context.Context, bucket, name string, generation int64) (*objectReader, error) {
	res, err := c.download(ctx, bucket, name, generation, 0)
	if err != nil {
		return nil, err
	}
	r := &objectReader{c: c, ctx: ctx, bucket: bucket, name: name, body: res.Body, generation: generation, tries: 1, resumable: !res.Uncompressed}
	if g := res.Header.Get("X-Goog-Generation"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			res.Body.Close()
			return nil, fmt.Errorf("gs://%s/%s: bad generation %q in the response", bucket, name, g)
		}
		r.generation = n
	}
	if r.generation == 0 {
		res.Body.Close()
		return nil, fmt.Errorf("gs://%s/%s: the response names no generation", bucket, name)
	}
	if t, err := http.ParseTime(res.Header.Get("Last-Modified")); err == nil {
		r.modTime = t
	}
	return r, nil
}

// download requests the named object's content from offset on.
func (c *Client) download(ctx context.Context, bucket, name string, generation, offset int64) (*http.Response, error) {
	var res *http.Response
	err := retry(ctx, func() (err error) {
		call := c.svc.Objects.Get(bucket, name).Context(ctx)
		if generation != 0 {
			call = call.Generation(generation)
		}
		if offset > 0 {
			call.Header().Set("Range", fmt.Sprintf("bytes=%d-", offset))
		}
		res, err = call.Download()
		return err
	})
	if err == nil && offset > 0 && res.StatusCode != http.StatusPartialContent {
		res.Body.Close()
		return nil, fmt.Errorf("gs://%s/%s: asked for bytes %d on, the server answered %s", bucket, name, offset, res.Status)
	}
	return res, err
}

func (r *objectReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF || !r.resumable || r.tries >= maxTries || !transient(err) || r.ctx.Err() != nil {
			return n, err
		}
		r.tries++
		r.body.Close()
		res, rerr := r.c.download(r.ctx, r.bucket, r.name, r.generation, r.off)
		if rerr != nil {
			r.body = io.NopCloser(strings.NewReader(""))
			r.err = fmt.Errorf("%w; reading on from byte %d: %w", err, r.off, rerr)
			return n, r.err
		}
		r.body = res.Body
		if n > 0 {
			return n, nil
		}
	}
}

func (r *objectReader) Close() error { return r.body.Close() }

// list calls f with each object whose name starts with prefix and has no
// "/" after it, asking for only the given fields of each.
func (c *Client) list(ctx context.Context, bucket, prefix string, fields string, f func(*storage.Object)) error {
	call := c.svc.Objects.List(bucket).Prefix(prefix).Delimiter("/").
		Fields(googleapi.Field("nextPageToken"), googleapi.Field("items("+fields+")"))
	for token := ""; ; {
		var page *storage.Objects
		err := retry(ctx, func() (err error) {
			page, err = call.PageToken(token).Context(ctx).Do()
			return err
		})
		if err != nil {
			return err
		}
		for _, o := range page.Items {
			f(o)
		}
		if token = page.NextPageToken; token == "" {
			return nil
		}
	}
}

// DoesNotExist as the generation condition of [Client.insert]: the object
// must not exist yet.
const doesNotExist = 0

// insert writes r as the object obj (its name, content type and metadata)
// on condition that the object's live generation is ifGeneration
// ([doesNotExist]: there is none). The object appears whole or not at all.
// A failed condition is an error for which [preconditionFailed] holds.
func (c *Client) insert(ctx context.Context, bucket string, obj *storage.Object, r io.Reader, ifGeneration int64) error {
	tries := 0
	_, err := c.svc.Objects.Insert(bucket, obj).IfGenerationMatch(ifGeneration).
		Media(r, googleapi.EnableAutoChecksum()).
		// The client asks after every request, a resumable upload's
		// chunks and successes included: only failures count.
		WithRetry(nil, func(err error) bool {
			if err == nil || !transient(err) {
				return false
			}
			tries++
			return tries < maxTries
		}).
		Fields("generation").Context(ctx).Do()
	return err
}
