package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/sigilproxy/sigil/internal/scratch"
)

// docFiles keeps the upstream documents too large for the cache (over
// UpstreamConfig.MaxStored) in files of a private directory, made in dir
// when first needed, so that such a document is not fetched again while
// it is fresh, a kept rendered document made from it is served without
// reading it (HTTPUpstream.DocumentLazy), and an upstream outage is
// bridged for it as for the others. Files last as long as the process:
// sigil serve removes the directories ("sigil-documents-*") of earlier
// runs when it starts. At most max bytes of files are kept, one per URL,
// the least recently written removed first.
type docFiles struct {
	files scratch.Dir
	max   int64

	mu    sync.Mutex
	lru   *simplelru.LRU[string, docFile]
	bytes int64
}

type docFile struct {
	path string
	size int64
}

// docFileEntries bounds the files kept, whatever their size: documents
// this large are few.
const docFileEntries = 256

// DefaultDocumentFileBytes is UpstreamConfig.FileBytes when zero.
const DefaultDocumentFileBytes = 1 << 30

func newDocFiles(dir string, max int64) *docFiles {
	f := &docFiles{files: scratch.Dir{Parent: dir, Pattern: "sigil-documents-*"}, max: max}
	f.lru, _ = simplelru.NewLRU(docFileEntries, func(_ string, d docFile) {
		f.bytes -= d.size
		// A request that is reading it reads on; one about to open it
		// finds it gone and fetches the document again (fileLoader).
		os.Remove(d.path)
	})
	return f
}

// put writes body, the document at url, to a file and returns its path,
// in place of url's previous file; "" when it is not kept (larger than
// half the bound, or the file could not be written: the error says why).
func (f *docFiles) put(url string, body []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lru.Remove(url) // the old version's file, even when the new one is not kept
	size := int64(len(body))
	if size > f.max/2 {
		return "", nil
	}
	for f.bytes+size > f.max && f.lru.Len() > 0 {
		f.lru.RemoveOldest()
	}
	name, err := f.files.Write(body)
	if err != nil {
		return "", err
	}
	f.lru.Add(url, docFile{name, size})
	f.bytes += size
	return name, nil
}

// fileLoader returns the Document.load of the document at url kept in
// the file path: it reads the file, charged to the request's budget, and
// checks it against sum. A file that is gone (its place was needed) or
// that changed is forgotten, and the document is fetched again.
func (u *HTTPUpstream) fileLoader(url, path string, sum [32]byte, size int64) func(ctx context.Context) (*Document, error) {
	return func(ctx context.Context) (*Document, error) {
		f, err := os.Open(path)
		if err == nil {
			defer f.Close()
			var fi os.FileInfo
			if fi, err = f.Stat(); err == nil && fi.Size() != size {
				err = errors.New("its size changed")
			}
		}
		if err == nil {
			if err := chargeRequest(ctx, size); err != nil {
				return nil, fmt.Errorf("upstream document %s: %w", RedactURL(url), err)
			}
			b := make([]byte, size)
			if _, err = io.ReadFull(f, b); err == nil && sha256.Sum256(b) != sum {
				err = errors.New("its bytes changed")
			}
			if err == nil {
				return &Document{Body: b, Sum: sum}, nil
			}
			// The fetch below holds the request's charge for these bytes.
			ctx = context.WithValue(ctx, leaseKey{}, (*lease)(nil))
		}
		u.log.Debug("proxy: the file of a large document cannot be used; fetching it again", "url", RedactURL(url), "err", err)
		// Forgotten, unless a newer version took its place meanwhile.
		if e, ok := u.mem.get(url); ok && e.file == path {
			u.mem.remove(url)
		}
		return u.document(ctx, url, false)
	}
}
