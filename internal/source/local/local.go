// Package local reads log objects from a folder laid out like a bucket
// (root/<bucket>/<key>): forensic import of exported logs, and the demo. It
// feeds the same pipeline as S3 after listing.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/trawlhq/trawl/internal/source"
)

// Bucket is a folder holding one bucket's objects.
type Bucket struct {
	root string // the bucket folder
	name string
}

// New opens root/bucket.
func New(root, bucket string) (*Bucket, error) {
	dir := filepath.Join(root, bucket)
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &source.Error{Status: 404, Op: "list", Target: dir, Explanation: "the folder for this bucket does not exist.", Recommendation: "Check the file:// endpoint and the bucket name: Trawl reads <endpoint path>/<bucket>/<key>.", Err: err}
		}
		return nil, &source.Error{Status: 403, Op: "list", Target: dir, Explanation: "the folder cannot be read.", Recommendation: "Check the folder's permissions.", Err: err}
	}
	if !fi.IsDir() {
		return nil, &source.Error{Status: 400, Op: "list", Target: dir, Explanation: "the bucket path is not a folder.", Recommendation: "Point the endpoint at the folder that contains the bucket folder."}
	}
	return &Bucket{root: dir, name: bucket}, nil
}

// Name returns the bucket name.
func (b *Bucket) Name() string { return b.name }

// List calls fn for each file under prefix in key order, after startAfter.
func (b *Bucket) List(ctx context.Context, prefix, startAfter string, fn func(source.Object) error) error {
	// Walk from the deepest folder the prefix names, then filter by key.
	dir := prefix
	if i := strings.LastIndexByte(dir, '/'); i >= 0 {
		dir = dir[:i]
	} else {
		dir = ""
	}
	start := filepath.Join(b.root, filepath.FromSlash(dir))
	var objs []source.Object
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == start {
				return fs.SkipAll
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(b.root, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) || key <= startAfter {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		objs = append(objs, source.Object{Key: key, Size: info.Size(), LastModified: info.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return &source.Error{Status: 403, Op: "list", Target: b.root + "/" + prefix, Explanation: "the folder could not be listed.", Recommendation: "Check the folder's permissions.", Err: err}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	for _, o := range objs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// ListLevel returns the sub-folders (as S3 common prefixes, "a/b/") and
// the files directly below prefix.
func (b *Bucket) ListLevel(ctx context.Context, prefix string) ([]string, []source.Object, error) {
	dir, base := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir, base = prefix[:i+1], prefix[i+1:]
	}
	ents, err := os.ReadDir(filepath.Join(b.root, filepath.FromSlash(dir)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, &source.Error{Status: 403, Op: "list", Target: b.root + "/" + prefix, Explanation: "the folder could not be listed.", Recommendation: "Check the folder's permissions.", Err: err}
	}
	var dirs []string
	var objs []source.Object
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), base) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() {
			dirs = append(dirs, dir+e.Name()+"/")
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		objs = append(objs, source.Object{Key: dir + e.Name(), Size: info.Size(), LastModified: info.ModTime().UTC()})
	}
	return dirs, objs, nil
}

// Open opens a file for streaming. The version check uses size and
// modification time because a folder has no ETag.
func (b *Bucket) Open(ctx context.Context, obj source.Object) (io.ReadCloser, error) {
	path := filepath.Join(b.root, filepath.FromSlash(obj.Key))
	f, err := os.Open(path)
	if err != nil {
		status := 403
		if errors.Is(err, fs.ErrNotExist) {
			status = 404
		}
		return nil, &source.Error{Status: status, Op: "get", Target: path, Explanation: "the file cannot be opened.", Recommendation: "Check that it exists and is readable.", Err: err}
	}
	if fi, err := f.Stat(); err == nil && obj.Size > 0 && fi.Size() != obj.Size {
		f.Close()
		return nil, &source.Error{Status: 412, Op: "get", Target: path, Explanation: "the file changed size since it was listed (" + strconv.FormatInt(obj.Size, 10) + " -> " + strconv.FormatInt(fi.Size(), 10) + ").", Recommendation: "It is read again at the next run.", Retryable: true}
	}
	return f, nil
}

// MetadataSuffix names the file beside an object that holds its S3 user
// metadata in a bucket folder (a JSON object of names without the
// x-amz-meta- prefix), since a file system has none: `trawl gen` writes
// one for each signed digest.
const MetadataSuffix = ".s3meta.json"

// Metadata returns an object's user metadata from its side file; none when
// there is no side file.
func (b *Bucket) Metadata(ctx context.Context, key string) (map[string]string, error) {
	m := map[string]string{}
	data, err := os.ReadFile(filepath.Join(b.root, filepath.FromSlash(key)) + MetadataSuffix)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", key, err)
	}
	return m, nil
}

// Root is the bucket folder.
func (b *Bucket) Root() string { return b.root }

// Head returns a file's metadata; folders have no server-side encryption.
func (b *Bucket) Head(ctx context.Context, key string) (source.Object, string, error) {
	fi, err := os.Stat(filepath.Join(b.root, filepath.FromSlash(key)))
	if err != nil {
		return source.Object{}, "", &source.Error{Status: 404, Op: "head", Target: key, Explanation: "the file does not exist.", Err: err}
	}
	return source.Object{Key: key, Size: fi.Size(), LastModified: fi.ModTime().UTC()}, "", nil
}
