package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
)

// fetched is an archive downloaded into a temporary file and measured. It
// is shared by every request that waited for the download and removed when
// the last of them releases it.
type fetched struct {
	file   *os.File
	size   int64
	sha256 [32]byte
	facts  policy.ArchiveFacts // what the bytes say, whoever asks
}

func (f *fetched) remove() {
	f.file.Close()
	os.Remove(f.file.Name())
}

// downloads shares one download per URL between concurrent requests. It is
// a singleflight whose result is a temporary file, so it also counts who
// still uses the result: the file is removed when the last user releases
// it, and the download is cancelled when every waiter gave up before it
// ended.
type downloads struct {
	mu sync.Mutex
	m  map[string]*download
}

type download struct {
	done   chan struct{} // closed when res and err are set
	cancel context.CancelFunc
	res    *fetched
	err    error

	// Guarded by downloads.mu.
	refs  int
	ended bool
}

// join returns the download of key, starting fetch in its own goroutine if
// none is under way. The caller must call release exactly once when it no
// longer uses the result (or stops waiting for it).
func (g *downloads) join(key string, fetch func(context.Context) (*fetched, error)) *download {
	g.mu.Lock()
	if d, ok := g.m[key]; ok {
		d.refs++
		g.mu.Unlock()
		return d
	}
	if g.m == nil {
		g.m = make(map[string]*download)
	}
	// The download belongs to all its waiters, so it runs under a context
	// of its own, cancelled when the last of them leaves.
	ctx, cancel := context.WithCancel(context.Background())
	d := &download{done: make(chan struct{}), cancel: cancel, refs: 1}
	g.m[key] = d
	g.mu.Unlock()

	go func() {
		res, err := fetch(ctx)
		g.mu.Lock()
		d.res, d.err, d.ended = res, err, true
		if g.m[key] == d {
			delete(g.m, key)
		}
		orphan := d.refs == 0
		g.mu.Unlock()
		cancel()
		close(d.done)
		if orphan && res != nil {
			res.remove()
		}
	}()
	return d
}

func (g *downloads) release(key string, d *download) {
	g.mu.Lock()
	d.refs--
	last, ended := d.refs == 0, d.ended
	if last && !ended && g.m[key] == d {
		// Nobody waits any more: a later request starts afresh rather
		// than joining a cancelled download.
		delete(g.m, key)
	}
	g.mu.Unlock()
	switch {
	case !last:
	case !ended:
		d.cancel() // the goroutine removes the file when it ends
	case d.res != nil:
		d.res.remove()
	}
}

// download fetches url into a temporary file in v.tmp, hashing while it
// streams, and measures it: sha256, the tree hash, and for npm the sha512.
// Memory stays bounded whatever the size; more than MaxArchiveSize bytes is
// an error.
func (v *Verifier) download(ctx context.Context, eco, url string) (*fetched, error) {
	defer v.metrics.upstreamTime("archive", time.Now())
	return downloadTo(ctx, v.client, v.tmp, v.limits, eco, url)
}

// Measured is what the bytes of one archive say, whoever fetched them.
type Measured struct {
	Size   int64
	SHA256 [32]byte
	// Tree is the archive's tree hash (release.HashArchive).
	Tree string
	// SHA512 is "sha512-<base64>" of the bytes, for npm only.
	SHA512 string
}

// MeasureArchive downloads url with client into a temporary file in
// tempDir, measures it as the proxy measures every archive, and removes
// the file: the same limits, the same streaming, the same hashes. An
// archive that cannot be hashed (malformed, over a limit) is an error.
// The release log's observer uses it, so that what the log observes and
// what every proxy checks are computed by one piece of code.
func MeasureArchive(ctx context.Context, client *http.Client, tempDir string, lim Limits, eco, url string) (Measured, error) {
	if lim.MaxArchiveSize <= 0 {
		lim.MaxArchiveSize = DefaultMaxArchiveSize
	}
	f, err := downloadTo(ctx, client, tempDir, lim, eco, url)
	if err != nil {
		return Measured{}, err
	}
	defer f.remove()
	if f.facts.TreeErr != nil {
		return Measured{}, fmt.Errorf("archive %s: %w", RedactURL(url), f.facts.TreeErr)
	}
	return Measured{Size: f.size, SHA256: f.sha256, Tree: f.facts.Tree, SHA512: f.facts.SHA512}, nil
}

func downloadTo(ctx context.Context, client *http.Client, tmp string, lim Limits, eco, url string) (_ *fetched, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("archive %s: not a URL sigil can fetch", RedactURL(url)) // err repeats the URL
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, upstreamFailure(url, err)
	}
	defer drainClose(resp.Body)
	switch st := resp.StatusCode; {
	case st == http.StatusNotFound || st == http.StatusGone:
		return nil, fmt.Errorf("%s: %w", RedactURL(url), ErrNotFound)
	case st != http.StatusOK:
		return nil, &UpstreamError{URL: url, Status: st, Err: errors.New("unexpected answer")}
	case resp.ContentLength > lim.MaxArchiveSize:
		return nil, &UpstreamError{URL: url, Status: st, Err: fmt.Errorf("archive of %d bytes is %w of %d", resp.ContentLength, errTooLarge, lim.MaxArchiveSize)}
	}

	file, err := os.CreateTemp(tmp, "archive-*")
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", RedactURL(url), err)
	}
	f := &fetched{file: file}
	defer func() {
		if err != nil {
			f.remove()
		}
	}()
	h256 := sha256.New()
	var h512 hash.Hash
	w := io.MultiWriter(file, h256)
	if eco == release.NPM {
		h512 = release.NewIntegrityHash()
		w = io.MultiWriter(file, h256, h512)
	}
	body := &readErr{r: io.LimitReader(resp.Body, lim.MaxArchiveSize+1)}
	f.size, err = io.Copy(w, body)
	switch {
	case body.err != nil:
		return nil, &UpstreamError{URL: url, Status: resp.StatusCode, Err: body.err}
	case err != nil:
		return nil, fmt.Errorf("archive %s: writing the temporary file: %w", RedactURL(url), err)
	case f.size > lim.MaxArchiveSize:
		return nil, &UpstreamError{URL: url, Status: resp.StatusCode, Err: fmt.Errorf("archive %w of %d bytes", errTooLarge, lim.MaxArchiveSize)}
	}
	f.sha256 = [32]byte(h256.Sum(nil))
	if h512 != nil {
		f.facts.SHA512 = release.FormatIntegrity(h512.Sum(nil))
	}
	measureTree(&f.facts, file, f.size, eco, lim)
	return f, nil
}

// measureTree hashes the archive in r and digests its own manifest file. A
// malformed archive is not an error of the call: it is a fact the policy
// judges (treeErr), as is a manifest that cannot be digested (manifestErr).
func measureTree(af *policy.ArchiveFacts, r io.ReaderAt, size int64, eco string, lim Limits) {
	info, err := release.HashArchive(r, size, release.ManifestFile(eco), lim.Archive)
	if err != nil {
		af.TreeErr = err
		return
	}
	af.Tree = info.Tree
	af.Manifest, af.ManifestErr = release.ArchiveManifestDigest(eco, info)
	af.Shrinkwrap = eco == release.NPM && release.HasShrinkwrap(info)
}

// readErr remembers the error of its reader, to tell a failing upstream
// from a failing disk in io.Copy.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
