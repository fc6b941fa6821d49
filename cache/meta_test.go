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
