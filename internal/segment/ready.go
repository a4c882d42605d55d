package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// NotReadyError says what a lake lacks to serve: a folder gone or not
// writable, or a catalog that does not answer.
type NotReadyError struct {
	What    string // "data directory", "lake folder", "catalog"
	Path    string // the folder, or "" for the catalog
	Problem string // what is wrong and what to do, without the path
	Err     error
}

func (e *NotReadyError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.What, e.Problem)
	}
	return fmt.Sprintf("%s %s: %s", e.What, e.Path, e.Problem)
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// WritableDir checks a folder exists and a file can be created in it.
func WritableDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("is missing (deleted while Trawl ran?): restore it from a backup, or restart Trawl to start an empty one")
	}
	if err != nil {
		return fmt.Errorf("cannot be read (%w): give Trawl's user access to it", err)
	}
	if !fi.IsDir() {
		return errors.New("is not a directory: move the file away and restore the folder")
	}
	f, err := os.CreateTemp(dir, ".ready-*")
	if err != nil {
		return fmt.Errorf("is not writable (%w): give Trawl's user write access, or free disk space", err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// segmentDir creates the folder of a segment file under root, but not
// root itself: when the lake folder is gone, recreating it would store
// segments where no catalog or restart will look.
func segmentDir(root, full string) error {
	if _, err := os.Stat(root); err != nil {
		return &NotReadyError{What: "lake folder", Path: root, Problem: "is missing (deleted while Trawl ran?): restore the data directory, then restart Trawl; nothing was stored", Err: err}
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		return fmt.Errorf("segment folder %s: %w", filepath.Dir(full), err)
	}
	return nil
}
