// Package scratch keeps files that last as long as the process that wrote
// them (large documents sigil keeps out of memory) in a private directory,
// mode 0700, made on first use: nobody else's files are in it, and the
// next start removes the directories of earlier runs by their pattern.
package scratch

import (
	"os"
	"sync"
)

// Dir makes its private directory in Parent, named after Pattern (as
// os.MkdirTemp names it), when Write first needs it. Safe for concurrent
// use.
type Dir struct {
	Parent, Pattern string

	mu      sync.Mutex
	private string
}

// Write writes data to a new file of d's private directory, mode 0600,
// and returns its name; a file that could not be written whole is
// removed.
func (d *Dir) Write(data []byte) (string, error) {
	d.mu.Lock()
	if d.private == "" {
		p, err := os.MkdirTemp(d.Parent, d.Pattern)
		if err != nil {
			d.mu.Unlock()
			return "", err
		}
		d.private = p
	}
	dir := d.private
	d.mu.Unlock()
	f, err := os.CreateTemp(dir, "")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
