package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
)

// largeUpstream returns an upstream that keeps documents over 64 bytes in
// files of dir, with maxAge, after it fetched one from the document server
// it asks: that server, the document's URL and its body.
func largeUpstream(t *testing.T, dir string, maxAge time.Duration) (*HTTPUpstream, *docServer, string, []byte) {
	t.Helper()
	s := newDocServer(t)
	s.set(`{"packages":{"acme/big":[`+strings.Repeat(`{"version":"1.0.0"},`, 20)+`{}]}}`, `"v1"`, 0)
	u, err := NewHTTPUpstream(UpstreamConfig{Client: s.Client(), Cache: newMemCache(), Logger: testLogger(t),
		MaxStored: 64, FileDir: dir, MaxAge: maxAge})
	if err != nil {
		t.Fatal(err)
	}
	url := s.URL + "/p2/acme/big.json"
	first, err := u.Document(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return u, s, url, first.Body
}

// docFilePaths lists the files a docFiles keeps in dir.
func docFilePaths(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "sigil-documents-*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestUpstreamLargeDocumentInFile: a document too large for the cache is
// kept in a file: while fresh it is not fetched again, DocumentLazy
// answers its digest without reading it, and Load and Document give its
// bytes.
func TestUpstreamLargeDocumentInFile(t *testing.T) {
	dir := t.TempDir()
	u, s, url, want := largeUpstream(t, dir, time.Hour)
	ctx := context.Background()
	if files := docFilePaths(t, dir); len(files) != 1 {
		t.Fatalf("files %v, want one", files)
	}
	lazy, err := u.DocumentLazy(ctx, url)
	if err != nil || lazy.Body != nil || lazy.Digest() != sha256.Sum256(want) || lazy.ETag != `"v1"` {
		t.Fatalf("lazy: %+v, %v", lazy, err)
	}
	if err := lazy.Load(ctx); err != nil || string(lazy.Body) != string(want) {
		t.Fatalf("loaded %q, %v", lazy.Body, err)
	}
	again, err := u.Document(ctx, url)
	if err != nil || string(again.Body) != string(want) {
		t.Fatalf("again %q, %v", again.Body, err)
	}
	if n := s.hits.Load(); n != 1 {
		t.Errorf("the upstream was asked %d times, want once", n)
	}
}

// TestUpstreamLargeDocumentFileGone: a file that went (evicted) or that
// changed on disk is not served: the document is fetched again.
func TestUpstreamLargeDocumentFileGone(t *testing.T) {
	for _, tt := range []struct {
		name  string
		spoil func(path string) error
	}{
		{"removed", os.Remove},
		{"changed", func(path string) error {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(path, []byte(strings.Replace(string(b), "1.0.0", "6.6.6", 1)), 0o600)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			u, s, url, first := largeUpstream(t, dir, time.Hour)
			if err := tt.spoil(docFilePaths(t, dir)[0]); err != nil {
				t.Fatal(err)
			}
			// In a budget that holds the document once but not twice:
			// the bytes of the file it could not use are not charged
			// again.
			var d *Document
			var err error
			withLease(NewMetadataBudget(int64(len(first))*3/2, 50*time.Millisecond), func(ctx context.Context) {
				d, err = u.Document(ctx, url)
			})
			if err != nil || string(d.Body) != string(first) || strings.Contains(string(d.Body), "6.6.6") {
				t.Fatalf("after the file was %s: %+v, %v", tt.name, d, err)
			}
			if n := s.hits.Load(); n != 2 {
				t.Errorf("the upstream was asked %d times, want twice", n)
			}
		})
	}
}

// TestUpstreamLargeDocumentStale: an upstream outage is bridged for a
// document kept in a file, as for one in the cache; a new version
// replaces the file.
func TestUpstreamLargeDocumentStale(t *testing.T) {
	dir := t.TempDir()
	u, s, url, first := largeUpstream(t, dir, -1) // asks the upstream every time
	ctx := context.Background()
	s.set("", "", http.StatusServiceUnavailable)
	d, err := u.Document(ctx, url)
	if err != nil || !d.Stale || string(d.Body) != string(first) {
		t.Fatalf("upstream down: %+v, %v", d, err)
	}
	newer := `{"packages":{"acme/big":[` + strings.Repeat(`{"version":"2.0.0"},`, 20) + `{}]}}`
	s.set(newer, `"v2"`, 0)
	d, err = u.Document(ctx, url)
	if err != nil || d.Stale || string(d.Body) != newer {
		t.Fatalf("upstream back with a new version: %+v, %v", d, err)
	}
	if files := docFilePaths(t, dir); len(files) != 1 {
		t.Errorf("files %v: the new version's should replace the old one's", files)
	}
}

// TestUpstreamLargeDocumentOldCopy: a document that grew past the cache's
// bound leaves no copy of its smaller past in the cache, to come back
// when its file goes.
func TestUpstreamLargeDocumentOldCopy(t *testing.T) {
	s := newDocServer(t) // its first document is small
	c := newMemCache()
	dir := t.TempDir()
	u, err := NewHTTPUpstream(UpstreamConfig{Client: s.Client(), Cache: c, Logger: testLogger(t), MaxStored: 64, FileDir: dir, MaxAge: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	url := s.URL + "/p2/acme/big.json"
	old, err := u.Document(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	s.set(`{"packages":{"acme/big":[`+strings.Repeat(`{"version":"2.0.0"},`, 20)+`{}]}}`, `"v2"`, 0)
	if d, err := u.Document(ctx, url); err != nil || !strings.Contains(string(d.Body), "2.0.0") {
		t.Fatalf("grown: %+v, %v", d, err)
	}
	if _, err := c.GetMeta(ctx, url); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("the small copy is still stored: %v", err)
	}
	os.Remove(docFilePaths(t, dir)[0])
	s.set("", "", http.StatusServiceUnavailable)
	if d, err := u.Document(ctx, url); err == nil && string(d.Body) == string(old.Body) {
		t.Errorf("the file gone and the upstream down, the old small copy came back: %+v", d)
	}
}
