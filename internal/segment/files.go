package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The lake's other files: the Iceberg tables' metadata (internal/iceberg
// writes them, internal/app decides what they hold). Paths are relative
// to the lake root, with slashes; with a store they are its keys.

// URI is how engines name a file of the lake: s3://bucket/prefix/… with a
// store, file:///… without.
func (l *Engine) URI(rel string) string {
	if l.store != nil {
		return strings.TrimSuffix(l.store.Location(), "/") + "/" + rel
	}
	abs, err := filepath.Abs(l.root)
	if err != nil {
		abs = l.root
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/" + rel}
	return u.String()
}

// Rel is the inverse of URI (false for a URI not of this lake).
func (l *Engine) Rel(uri string) (string, bool) {
	prefix := l.URI("")
	if !strings.HasPrefix(uri, prefix) {
		return "", false
	}
	return strings.TrimPrefix(uri, prefix), true
}

// PutFile writes a file of the lake, whole or not at all: staged, synced
// and renamed here, then put in the store.
func (l *Engine) PutFile(ctx context.Context, rel string, fill func(io.Writer) error) error {
	full := filepath.Join(l.root, filepath.FromSlash(rel))
	if err := segmentDir(l.root, full); err != nil {
		return err
	}
	os.Remove(full + ".tmp") // a crashed attempt's
	if err := writeSynced(full, nil, fill); err != nil {
		return fmt.Errorf("lake: write %s: %w", rel, err)
	}
	if l.store != nil {
		if err := l.store.Put(ctx, rel, full); err != nil {
			return fmt.Errorf("lake: put %s in %s: %w", rel, l.store.Location(), err)
		}
	}
	return nil
}

// ReadFile reads a file of the lake: here, else from the store.
func (l *Engine) ReadFile(ctx context.Context, rel string) ([]byte, error) {
	full := filepath.Join(l.root, filepath.FromSlash(rel))
	data, err := os.ReadFile(full)
	if err == nil || l.store == nil {
		return data, err
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		return nil, err
	}
	if err := l.store.Get(ctx, rel, full); err != nil {
		return nil, fmt.Errorf("lake: get %s from %s: %w", rel, l.store.Location(), err)
	}
	return os.ReadFile(full)
}

// RemoveFile deletes a file of the lake, from the store and here.
func (l *Engine) RemoveFile(ctx context.Context, rel string) error {
	if l.store != nil {
		if err := l.store.Delete(ctx, []string{rel}); err != nil {
			return fmt.Errorf("lake: delete %s from %s: %w", rel, l.store.Location(), err)
		}
	}
	if err := os.Remove(filepath.Join(l.root, filepath.FromSlash(rel))); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("lake: delete %s: %w", rel, err)
	}
	return nil
}

// ListFiles calls fn with each file directly in the lake folder dir
// (under the root, with slashes; its subfolders are not listed) and its
// modification time: the files here and, with a store, its objects (a
// file in both is listed once, with the later time, so neither copy is
// taken for older than it is).
func (l *Engine) ListFiles(ctx context.Context, dir string, fn func(rel string, modified time.Time) error) error {
	dir = strings.TrimSuffix(dir, "/") + "/"
	files := map[string]time.Time{}
	entries, err := os.ReadDir(filepath.Join(l.root, filepath.FromSlash(dir)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lake: list %s: %w", dir, err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			files[dir+e.Name()] = info.ModTime()
		}
	}
	if l.store != nil {
		err := l.store.List(ctx, dir, func(key string, modified time.Time) error {
			if !strings.Contains(strings.TrimPrefix(key, dir), "/") && modified.After(files[key]) {
				files[key] = modified
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("lake: list %s in %s: %w", dir, l.store.Location(), err)
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(files)) {
		if err := fn(rel, files[rel]); err != nil {
			return err
		}
	}
	return nil
}
