// Package atomicfile writes files so that a reader, or the next start after a
// crash, sees either the old content or the whole new content, never a
// torn write: the data goes to a temporary file in the same directory, is
// synced, then renamed (or linked) into place, and the directory is synced
// so that the rename itself survives a power loss.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExist is returned by Create when the file already exists.
var ErrExist = fs.ErrExist

// Write replaces path with data, with the given permissions.
func Write(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, false)
}

// Create writes data to path, which must not exist yet. Secret keys are
// created this way, so that a second keygen never overwrites a key a vendor
// may already have published.
func Create(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, true)
}

func write(path string, data []byte, perm fs.FileMode, exclusive bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			os.Remove(name)
		}
	}()
	// Set the mode before any data is written, so a secret is never
	// readable by others even for a moment.
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if exclusive {
		// A hard link fails if the target exists, where rename would
		// silently replace it.
		if err := os.Link(name, path); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists: %w", path, ErrExist)
			}
			return fmt.Errorf("writing %s: %w", path, err)
		}
		os.Remove(name)
	} else if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
