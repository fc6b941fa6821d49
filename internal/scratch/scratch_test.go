package scratch

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWrite: files land in one private directory of the parent, matching
// the pattern (what the sweep at start removes), readable by the owner
// only, with the bytes written.
func TestWrite(t *testing.T) {
	parent := t.TempDir()
	d := &Dir{Parent: parent, Pattern: "sigil-test-*"}
	var names []string
	for _, data := range [][]byte{[]byte("one"), bytes.Repeat([]byte("x"), 1<<20)} {
		name, err := d.Write(data)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s holds %d bytes, %v; want %d", name, len(got), err, len(data))
		}
		if fi, err := os.Stat(name); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", name, fi.Mode(), err)
		}
		names = append(names, name)
	}
	dirs, _ := filepath.Glob(filepath.Join(parent, "sigil-test-*"))
	if len(dirs) != 1 || filepath.Dir(names[0]) != dirs[0] || filepath.Dir(names[1]) != dirs[0] || names[0] == names[1] {
		t.Errorf("private directories %v, files %v: want two files in one", dirs, names)
	}
	if fi, err := os.Stat(dirs[0]); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("private directory mode %v, %v; want 0700", fi.Mode(), err)
	}
}

// TestWriteNoParent: a parent that is not there is an error, and nothing
// is written.
func TestWriteNoParent(t *testing.T) {
	d := &Dir{Parent: filepath.Join(t.TempDir(), "absent"), Pattern: "sigil-test-*"}
	if name, err := d.Write([]byte("x")); err == nil {
		t.Errorf("wrote %s under a missing parent", name)
	}
}
