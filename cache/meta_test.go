package cache

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// An error about a key names it without its query: keys are URLs, whose
// queries may carry tokens, and errors are logged.
func TestMetaErrorsHideQueries(t *testing.T) {
	s := newMemStore(t)
	ctx := context.Background()
	_, err := s.GetMeta(ctx, "https://files.test/p.json?token=SECRET")
	if !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "https://files.test/p.json?…") {
		t.Errorf("GetMeta: %v", err)
	}
	err = s.PutMeta(ctx, "https://files.test/p.json?token=SECRET", Meta{Body: make([]byte, s.opt.MaxMetaSize+1)})
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("PutMeta: %v", err)
	}
}

// TestDeleteMeta: a deleted document is gone, from memory too, and no
// longer counted against the cap; deleting what is not there is no error.
func TestDeleteMeta(t *testing.T) {
	ctx := context.Background()
	s := openDisk(t, t.TempDir())
	defer s.Close()
	const key = "https://registry.test/p2/acme/foo.json"
	before, _ := s.Usage()
	if err := s.PutMeta(ctx, key, Meta{Body: []byte(`{"packages":{}}`), ETag: `"v1"`}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMeta(ctx, key); err != nil { // now in memory too
		t.Fatal(err)
	}
	if err := s.DeleteMeta(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMeta(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("after DeleteMeta: %v, want ErrNotFound", err)
	}
	if used, _ := s.Usage(); used != before {
		t.Errorf("usage %d after deleting, %d before storing", used, before)
	}
	if err := s.DeleteMeta(ctx, key); err != nil {
		t.Errorf("deleting again: %v", err)
	}
}
