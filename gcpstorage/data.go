package gcpstorage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	storage "google.golang.org/api/storage/v1"

	"tipoff/batch"
	"tipoff/dataimport"
	"tipoff/pipeline"
	"tipoff/predict"
)

// Object names of a versioned data set under its prefix.
const (
	// PointerObject names the current version: its content is the
	// version's name and a newline.
	PointerObject = "CURRENT"
	// VersionsDir holds one directory per version: v/<version>/<file>.
	VersionsDir = "v"
)

// validVersion is what a version's name may be: it becomes part of object
// names, so no slashes and nothing a shell or a URL would mangle.
var validVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Data is a versioned input data set under gs://bucket/prefix: the
// CSV files that [dataimport.ReadDir] reads from a directory live as
// prefix/v/<version>/<file>, and the object prefix/CURRENT names the
// current version. A version's objects are written once and never
// changed; [Data.Push] uploads a new version whole and only then moves the
// pointer, so a refresh is atomic: [Data.Read] resolves the pointer once
// and reads only that version's objects, each pinned to the generation it
// listed, and a push during a read never mixes versions.
type Data struct {
	client *Client
	loc    Location
	// NowFunc names new versions after the time; default time.Now.
	NowFunc func() time.Time
	// beforeOpen runs before Read opens each file; beforePointer before
	// Push moves the pointer (tests interleave other pushes there).
	beforeOpen    func(name string)
	beforePointer func()
}

// NewData returns the data set at url (gs://bucket/prefix) on client. It
// returns an error wrapping [batch.ErrInvalid] if url is not a Cloud
// Storage location.
func NewData(client *Client, url string) (*Data, error) {
	loc, err := ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("data location: %w", err)
	}
	return &Data{client: client, loc: loc, NowFunc: time.Now}, nil
}

// Location returns where the data set is.
func (d *Data) Location() Location { return d.loc }

// Pointer is what prefix/CURRENT says, and its generation.
type Pointer struct {
	Version    string
	Generation int64
}

// Current reads the pointer. It returns an error wrapping
// [batch.ErrNotFound] that names the location if there is none, and one
// wrapping [batch.ErrInvalid] if it does not name a version.
func (d *Data) Current(ctx context.Context) (Pointer, error) {
	r, err := d.client.open(ctx, d.loc.Bucket, d.loc.Object(PointerObject), 0)
	if notFound(err) {
		return Pointer{}, fmt.Errorf("%w: %s holds no data set: %s does not exist (upload one with \"tipoff data push DIR %s\")",
			batch.ErrNotFound, d.loc, d.loc.URL(PointerObject), d.loc)
	}
	if err != nil {
		return Pointer{}, fmt.Errorf("read %s: %w", d.loc.URL(PointerObject), err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 1024))
	if err != nil {
		return Pointer{}, fmt.Errorf("read %s: %w", d.loc.URL(PointerObject), err)
	}
	v := strings.TrimSpace(string(b))
	if !validVersion.MatchString(v) {
		return Pointer{}, fmt.Errorf("%w: %s: %q is not a version name", batch.ErrInvalid, d.loc.URL(PointerObject), v)
	}
	return Pointer{Version: v, Generation: r.generation}, nil
}

func (d *Data) versionDir(version string) string {
	return d.loc.Object(VersionsDir + "/" + version + "/")
}

// Read reads the current version: it resolves the pointer once, lists that
// version's objects with their generations, and parses them with
// [dataimport.ReadFS], reading each object at the generation listed. It
// returns the pointer it followed with the data set. Bad data gives the
// parser's errors (wrapping [batch.ErrInvalid]) naming the version's
// location; an object replaced during the read is an error, not a mix.
func (d *Data) Read(ctx context.Context) (*predict.Dataset, Pointer, error) {
	p, err := d.Current(ctx)
	if err != nil {
		return nil, Pointer{}, err
	}
	fsys, err := d.snapshot(ctx, p.Version)
	if err != nil {
		return nil, p, err
	}
	ds, err := dataimport.ReadFS(fsys, fsys.url)
	if err != nil {
		return nil, p, err
	}
	return ds, p, nil
}

// snapshot lists the objects of a version.
func (d *Data) snapshot(ctx context.Context, version string) (*versionFS, error) {
	dir := d.versionDir(version)
	fsys := &versionFS{ctx: ctx, client: d.client, bucket: d.loc.Bucket, dir: dir, url: Scheme + d.loc.Bucket + "/" + strings.TrimSuffix(dir, "/"),
		files: map[string]*storage.Object{}, beforeOpen: d.beforeOpen}
	// Objects only: "directories" below the version's come as prefixes,
	// which are not data files.
	err := d.client.list(ctx, d.loc.Bucket, dir, "name,generation,size,updated", func(o *storage.Object) {
		fsys.files[strings.TrimPrefix(o.Name, dir)] = o
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", fsys.url, err)
	}
	if len(fsys.files) == 0 {
		return nil, fmt.Errorf("%w: %s names version %s, but %s/ holds no objects", batch.ErrNotFound, d.loc.URL(PointerObject), version, fsys.url)
	}
	return fsys, nil
}

// versionFS is a version's objects as an [fs.FS] for [dataimport.ReadFS],
// each read at the generation its listing found. It lives for one Read,
// whose ctx it carries: fs.FS has no context parameter.
type versionFS struct {
	ctx        context.Context
	client     *Client
	bucket     string
	dir, url   string
	files      map[string]*storage.Object
	beforeOpen func(name string)
}

func (f *versionFS) Open(name string) (fs.File, error) {
	a, ok := f.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if f.beforeOpen != nil {
		f.beforeOpen(name)
	}
	r, err := f.client.open(f.ctx, f.bucket, a.Name, a.Generation)
	if notFound(err) {
		return nil, fmt.Errorf("%s/%s (generation %d) was replaced or deleted while the version was read: versions must not change after a push: %w",
			f.url, name, a.Generation, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", f.url, name, err)
	}
	return &objectFile{ReadCloser: r, info: objectInfo{a}}, nil
}

func (f *versionFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []fs.DirEntry
	for _, a := range f.files {
		out = append(out, fs.FileInfoToDirEntry(objectInfo{a}))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

type objectFile struct {
	io.ReadCloser
	info objectInfo
}

func (o *objectFile) Stat() (fs.FileInfo, error) { return o.info, nil }

type objectInfo struct{ a *storage.Object }

func (i objectInfo) Name() string      { return filepath.Base(i.a.Name) }
func (i objectInfo) Size() int64       { return int64(i.a.Size) }
func (i objectInfo) Mode() fs.FileMode { return 0o444 }
func (i objectInfo) ModTime() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, i.a.Updated)
	return t
}
func (i objectInfo) IsDir() bool { return false }
func (i objectInfo) Sys() any    { return i.a }

// PushResult says what a push uploaded.
type PushResult struct {
	Version string // the new version's name, now current
	// Previous is the version that was current before ("" if none).
	Previous string
	Files    []string // the data files uploaded, as named in the directory
	Bytes    int64
	// DataVersion is the data set's own checksum ([predict.Dataset.Version]).
	DataVersion string
}

// String says what the push did, in one line.
func (r PushResult) String() string {
	prev := r.Previous
	if prev == "" {
		prev = "none"
	}
	return fmt.Sprintf("version %s is current (was %s): %d files, %d bytes, data version %s", r.Version, prev, len(r.Files), r.Bytes, r.DataVersion)
}

// Push makes the data directory dir the current version. It parses dir
// fully first and refuses bad data with the parser's errors, uploading
// nothing; then it uploads the data files to prefix/v/<version>/ (each on
// condition that the object does not exist yet), reads them back to check
// they hold the data it checked, and only then moves the
// pointer, on condition that it is still at the generation it was when the
// push began: of two pushes at once, one moves the pointer and the other
// gets an error wrapping [batch.ErrConflict] (its version stays uploaded
// but not current; push again). Files other than the data files are not
// uploaded.
func (d *Data) Push(ctx context.Context, dir string) (PushResult, error) {
	ds, err := dataimport.ReadDir(dir)
	if err != nil {
		return PushResult{}, fmt.Errorf("refused %s: %w", dir, err)
	}
	files, err := dataimport.ListDir(dir)
	if err != nil {
		return PushResult{}, fmt.Errorf("refused %s: %w", dir, err)
	}
	prev, err := d.Current(ctx)
	if err != nil && !errors.Is(err, batch.ErrNotFound) {
		return PushResult{}, err
	}
	res := PushResult{Previous: prev.Version, DataVersion: ds.Version(),
		Version: d.NowFunc().UTC().Format("20060102T150405.000Z") + "-" + shortVersion(ds.Version())}
	names := append([]string{files.Schedule, files.Logs}, files.Props...)
	if files.Status != "" {
		names = append(names, files.Status)
	}
	vdir := d.versionDir(res.Version)
	for _, name := range names {
		n, err := d.upload(ctx, filepath.Join(dir, name), vdir+name)
		if err != nil {
			return PushResult{}, err
		}
		res.Files = append(res.Files, name)
		res.Bytes += n
	}
	// What was uploaded is what was checked: parse the version back.
	fsys, err := d.snapshot(ctx, res.Version)
	if err != nil {
		return PushResult{}, err
	}
	back, err := dataimport.ReadFS(fsys, fsys.url)
	if err != nil {
		return PushResult{}, fmt.Errorf("read back %s (the pointer is not moved): %w", fsys.url, err)
	}
	if back.Version() != ds.Version() {
		return PushResult{}, fmt.Errorf("%s as uploaded is not the data checked in %s (did the directory change during the push?); the pointer is not moved",
			fsys.url, dir)
	}
	if d.beforePointer != nil {
		d.beforePointer()
	}
	// prev.Generation is 0 ([doesNotExist]) when there was no pointer.
	ptr := &storage.Object{Name: d.loc.Object(PointerObject), ContentType: "text/plain; charset=utf-8", Metadata: map[string]string{"data_version": ds.Version()}}
	err = d.client.insert(ctx, d.loc.Bucket, ptr, strings.NewReader(res.Version+"\n"), prev.Generation)
	if preconditionFailed(err) {
		// A retry of a write that went through but whose answer was lost
		// finds the pointer moved, to this push's version.
		if cur, cerr := d.Current(ctx); cerr == nil && cur.Version == res.Version {
			return res, nil
		}
		return PushResult{}, fmt.Errorf("%w: another push moved %s since this one began; version %s is uploaded but not current: push again",
			batch.ErrConflict, d.loc.URL(PointerObject), res.Version)
	}
	if err != nil {
		return PushResult{}, fmt.Errorf("move %s to %s: %w", d.loc.URL(PointerObject), res.Version, err)
	}
	return res, nil
}

// shortVersion is the start of a data set's checksum, kept to the
// characters a version name may hold.
func shortVersion(v string) string {
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		v = v[i+1:] // "sha256:..." is all sha256
	}
	var b strings.Builder
	for _, r := range v {
		if b.Len() == 12 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "data"
	}
	return b.String()
}

// upload copies the file at path to the object name, on condition that
// the object does not exist: a version's objects are written once.
func (d *Data) upload(ctx context.Context, path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	obj := &storage.Object{Name: name, ContentType: "text/csv"}
	if strings.HasSuffix(path, ".gz") {
		// Stored as the gzip file it is, not with Content-Encoding: gzip,
		// so readers get the same bytes and gunzip them as from a disk.
		obj.ContentType = "application/gzip"
	}
	cr := &countingReader{r: f}
	if err := d.client.insert(ctx, d.loc.Bucket, obj, cr, doesNotExist); err != nil {
		if preconditionFailed(err) {
			return 0, fmt.Errorf("%w: gs://%s/%s exists already: another push is writing the same version", batch.ErrConflict, d.loc.Bucket, name)
		}
		return 0, fmt.Errorf("upload %s to gs://%s/%s: %w", path, d.loc.Bucket, name, err)
	}
	return cr.n, nil
}

// Version says which version of the data set is current without reading
// it: the version the pointer names, the pointer's generation, and a
// digest of the names and generations of that version's objects, from
// one read of the pointer and one listing that asks for nothing else. It
// changes when a push moves the pointer, and when an object of the
// current version is replaced, added or deleted (which a push never does).
func (d *Data) Version(ctx context.Context) (string, error) {
	p, err := d.Current(ctx)
	if err != nil {
		return "", err
	}
	dir := d.versionDir(p.Version)
	h := sha256.New()
	n := 0
	// Objects only ("directories" below the version's come as prefixes),
	// and of each only its name and generation.
	err = d.client.list(ctx, d.loc.Bucket, dir, "name,generation", func(o *storage.Object) {
		fmt.Fprintf(h, "%q %d\n", o.Name, o.Generation)
		n++
	})
	if err != nil {
		return "", fmt.Errorf("list gs://%s/%s: %w", d.loc.Bucket, dir, err)
	}
	if n == 0 {
		return "", fmt.Errorf("%w: %s names version %s, but gs://%s/%s holds no objects", batch.ErrNotFound, d.loc.URL(PointerObject), p.Version, d.loc.Bucket, dir)
	}
	return fmt.Sprintf("%s@%d:%s", p.Version, p.Generation, hex.EncodeToString(h.Sum(nil))[:16]), nil
}

// VersionFunc returns a [pipeline.VersionFunc] that says which version of
// the data set at a gs:// path is current ([Data.Version]) with client.
func VersionFunc(client *Client) pipeline.VersionFunc {
	return func(ctx context.Context, path string) (string, error) {
		d, err := NewData(client, path)
		if err != nil {
			return "", err
		}
		return d.Version(ctx)
	}
}

// ReadFunc returns a [pipeline.ReadFunc] that reads the current version of
// the data set at a gs:// path with client.
func ReadFunc(client *Client) pipeline.ReadFunc {
	return func(ctx context.Context, path string) (*predict.Dataset, error) {
		d, err := NewData(client, path)
		if err != nil {
			return nil, err
		}
		ds, _, err := d.Read(ctx)
		return ds, err
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
