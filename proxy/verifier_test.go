package proxy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

func readArchive(t *testing.T, a *Archive) []byte {
	t.Helper()
	b, err := io.ReadAll(a.Body)
	if err != nil {
		t.Fatal(err)
	}
	if a.Closer != nil {
		a.Closer.Close()
	}
	return b
}

func wantBlocked(t *testing.T, err error, subs ...string) {
	t.Helper()
	var b *BlockedError
	if !errors.As(err, &b) {
		t.Fatalf("error %v, want *BlockedError", err)
	}
	for _, s := range subs {
		if !strings.Contains(b.Error(), s) {
			t.Errorf("blocked %q lacks %q", b.Error(), s)
		}
	}
	if StatusOf(err) != http.StatusGone {
		t.Errorf("StatusOf(blocked) = %d", StatusOf(err))
	}
}

func TestVersionsKeepSourceRule(t *testing.T) {
	e := newTestEnv(t, &policy.Config{Rules: []policy.Rule{{Package: "acme/*", Source: policy.SourceKeep}}})
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: "h1:x", Manifest: "sha256:m"}))
	got := e.v.Versions(context.Background(), release.Composer, "acme/foo", []VersionFacts{facts("1.0.0", "")})
	if !got[0].KeepSource {
		t.Errorf(`acme/foo under source = "keep": %+v`, got[0])
	}
}

func TestVersions(t *testing.T) {
	e := newTestEnv(t, nil)
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: "h1:x", Manifest: emptyManifest, Source: "abc"}))
	const u = "https://archives.test/a.zip"
	fs := []VersionFacts{facts("1.0.0", u), facts("2.0.0", u), facts("1.0.0", u), facts("1.0.0", ""), facts("1.0.0", u)}
	fs[0].Source = "abc"
	fs[2].Manifest = "sha256:other"
	fs[4].DistReference = "swapped"
	got := e.v.Versions(context.Background(), release.Composer, "acme/foo", fs)
	if len(got) != 5 {
		t.Fatalf("%d verdicts for 5 facts", len(got))
	}
	if got[3].Action != policy.Block || !strings.Contains(got[3].Reason(), "no archive (dist)") {
		t.Errorf("signed version without a dist: %+v", got[3])
	}
	if got[4].Action != policy.Block || !strings.Contains(got[4].Reason(), "dist.reference swapped") {
		t.Errorf("signed version with a swapped dist.reference: %+v", got[4])
	}
	// A verified source is still not served: only a rule keeps one.
	if got[0].Action != policy.Allow || !got[0].Signed || got[0].KeepSource {
		t.Errorf("1.0.0: %+v", got[0])
	}
	if got[1].Action != policy.Block || got[1].KeepSource || !strings.Contains(got[1].Reason(), "acme/foo@2.0.0") {
		t.Errorf("2.0.0 unsigned version of a signed package: %+v", got[1])
	}
	if got[2].Action != policy.Block || !strings.Contains(got[2].Reason(), "sha256:other") {
		t.Errorf("1.0.0 with other dependencies: %+v", got[2])
	}

	// Facts of another package than the one looked up fail closed.
	other := facts("1.0.0", "")
	other.Package = "evil/foo"
	got = e.v.Versions(context.Background(), release.Composer, "acme/foo", []VersionFacts{other})
	if got[0].Action != policy.Block {
		t.Errorf("facts of another package: %+v", got[0])
	}
}

func TestVersionsLogDown(t *testing.T) {
	for _, mode := range []policy.Mode{policy.ModeEnforce, policy.ModeWarn} {
		t.Run(string(mode), func(t *testing.T) {
			e := newTestEnv(t, &policy.Config{Mode: mode})
			e.log.set(0, errors.New("dial tcp 127.0.0.1:1: connection refused"))
			got := e.v.Versions(context.Background(), release.Composer, "acme/foo", []VersionFacts{facts("1.0.0", "")})
			want := policy.Block
			if mode == policy.ModeWarn {
				want = policy.Warn
			}
			if got[0].Action != want || !strings.Contains(got[0].Reason(), "connection refused") {
				t.Errorf("verdict %+v, want %v with the log's error", got[0], want)
			}
			// Failures are not cached: the log back up means verdicts back.
			e.log.set(11, nil)
			got = e.v.Versions(context.Background(), release.Composer, "acme/foo", []VersionFacts{facts("1.0.0", "")})
			if got[0].Action != policy.Allow || got[0].Failed {
				t.Errorf("after the log came back: %+v, want unsigned allowed", got[0])
			}
		})
	}
}

func TestVersionsInvalidPackage(t *testing.T) {
	e := newTestEnv(t, nil)
	f := facts("1.0.0", "")
	f.Package = "../x"
	got := e.v.Versions(context.Background(), release.Composer, "../x", []VersionFacts{f})
	if got[0].Action != policy.Block || e.log.calls.Load() != 0 {
		t.Errorf("invalid name: %+v, %d lookups", got[0], e.log.calls.Load())
	}
}

func TestOneLookupPerBurst(t *testing.T) {
	e := newTestEnv(t, nil)
	e.log.gate = make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.v.Versions(context.Background(), release.Composer, "acme/foo", []VersionFacts{facts("1.0.0", "")})
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(e.log.gate)
	wg.Wait()
	// Later requests within the TTL reuse the evidence.
	e.v.Versions(context.Background(), release.Composer, "acme/foo", []VersionFacts{facts("1.0.0", "")})
	if n := e.log.calls.Load(); n != 1 {
		t.Errorf("%d lookups for one burst, want 1", n)
	}
}

func TestEvidenceExpires(t *testing.T) {
	e := newTestEnv(t, nil)
	now := time.Now()
	e.v.now = func() time.Time { return now }
	look := func(pkg string) {
		e.v.Versions(context.Background(), release.Composer, pkg, []VersionFacts{{Ecosystem: release.Composer, Metadata: policy.Metadata{Package: pkg, Version: "1.0.0"}}})
	}
	look("acme/foo")
	look("acme/foo")
	if n := e.log.calls.Load(); n != 1 {
		t.Fatalf("%d lookups, want 1", n)
	}
	// A lookup of another package proves a newer checkpoint: every
	// evidence evaluated at an older one is stale.
	e.log.set(11, nil)
	look("acme/bar")
	look("acme/foo")
	if n := e.log.calls.Load(); n != 3 {
		t.Fatalf("%d lookups after a newer checkpoint, want 3", n)
	}
	look("acme/foo")
	if n := e.log.calls.Load(); n != 3 {
		t.Fatalf("%d lookups, want 3", n)
	}
	now = now.Add(DefaultEvidenceTTL)
	look("acme/foo")
	if n := e.log.calls.Load(); n != 4 {
		t.Fatalf("%d lookups after the TTL, want 4", n)
	}
}

func TestArchiveVerified(t *testing.T) {
	e := newTestEnv(t, nil)
	zipb, tree := makeZip(t, map[string]string{"composer.json": `{"name":"acme/foo"}`, "src/Foo.php": "<?php"})
	url := e.up.set("/dist/acme-foo-1.0.0.zip", zipb)
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: tree, Manifest: emptyManifest}))

	a, err := e.v.Archive(context.Background(), facts("1.0.0", url))
	if err != nil {
		t.Fatal(err)
	}
	if a.Verdict.Action != policy.Allow || !a.Verdict.Signed || a.SHA256 != sha256.Sum256(zipb) || a.Size != int64(len(zipb)) {
		t.Errorf("archive %+v", a)
	}
	if got := readArchive(t, a); string(got) != string(zipb) {
		t.Error("served bytes differ from the upstream's")
	}
	if e.cache.refCount() != 1 || e.cache.blobCount() != 1 {
		t.Errorf("cache holds %d refs and %d blobs, want 1 and 1", e.cache.refCount(), e.cache.blobCount())
	}

	// The first verified bytes are served for ever after: the upstream
	// re-zipping (or breaking) changes nothing.
	e.up.set("/dist/acme-foo-1.0.0.zip", []byte("garbage"))
	a, err = e.v.Archive(context.Background(), facts("1.0.0", url))
	if err != nil {
		t.Fatal(err)
	}
	if got := readArchive(t, a); string(got) != string(zipb) {
		t.Error("cached archive not served")
	}
	if n := e.up.hits.Load(); n != 1 {
		t.Errorf("%d upstream requests, want 1", n)
	}
	assertNoStaging(t, e.v)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func assertNoStaging(t *testing.T, v *Verifier) {
	t.Helper()
	// Removal of a shared download happens after the last release, which
	// may trail the response by a moment.
	for range 100 {
		ents, err := os.ReadDir(v.tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Error("staging files left behind")
}

func TestArchiveTreeMismatch(t *testing.T) {
	zipb, _ := makeZip(t, map[string]string{"composer.json": `{}`, "src/Foo.php": "<?php evil();"})
	_, goodTree := makeZip(t, map[string]string{"composer.json": `{}`, "src/Foo.php": "<?php"})
	ev := signed(release.Statement{Version: "1.0.0", Tree: goodTree, Manifest: emptyManifest})

	t.Run("enforce", func(t *testing.T) {
		e := newTestEnv(t, nil)
		e.ev.set("acme/foo", ev)
		url := e.up.set("/dist/a.zip", zipb)
		_, err := e.v.Archive(context.Background(), facts("1.0.0", url))
		wantBlocked(t, err, "acme/foo@1.0.0", goodTree, "index 3")
		if e.cache.blobCount() != 0 || e.cache.refCount() != 0 {
			t.Error("blocked bytes were cached")
		}
		assertNoStaging(t, e.v)
	})
	t.Run("warn", func(t *testing.T) {
		e := newTestEnv(t, &policy.Config{Mode: policy.ModeWarn})
		e.ev.set("acme/foo", ev)
		url := e.up.set("/dist/a.zip", zipb)
		a, err := e.v.Archive(context.Background(), facts("1.0.0", url))
		if err != nil {
			t.Fatal(err)
		}
		if a.Verdict.Action != policy.Warn || !a.Verdict.Failed || !strings.Contains(a.Verdict.Reason(), goodTree) {
			t.Errorf("verdict %+v", a.Verdict)
		}
		if got := readArchive(t, a); string(got) != string(zipb) {
			t.Error("warn mode did not serve the upstream's bytes")
		}
		// Served, but never stored: a later enforce run must not inherit
		// bytes that failed.
		if e.cache.blobCount() != 0 || e.cache.refCount() != 0 {
			t.Error("failed bytes were cached in warn mode")
		}
		assertNoStaging(t, e.v)
	})
}

func TestArchiveSharedDownload(t *testing.T) {
	e := newTestEnv(t, nil)
	zipb, tree := makeZip(t, map[string]string{"composer.json": `{}`, "a.txt": strings.Repeat("a", 1<<20)})
	url := e.up.set("/dist/a.zip", zipb)
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: tree, Manifest: emptyManifest}))
	e.up.gate = make(chan struct{})

	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := e.v.Archive(context.Background(), facts("1.0.0", url))
			if err != nil {
				errs <- err
				return
			}
			defer a.Closer.Close()
			b, err := io.ReadAll(a.Body)
			if err == nil && string(b) != string(zipb) {
				err = errors.New("wrong bytes")
			}
			errs <- err
		}()
	}
	// Let every request join the download before the upstream answers.
	waitJoined(t, e.v, url, n)
	close(e.up.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if h := e.up.hits.Load(); h != 1 {
		t.Errorf("%d upstream requests for %d concurrent ones, want 1", h, n)
	}
	if p := e.cache.puts.Load(); p != 1 {
		t.Errorf("blob stored %d times", p)
	}
	assertNoStaging(t, e.v)
}

// waitJoined waits until n requests wait for the download of url.
func waitJoined(t *testing.T, v *Verifier, url string, n int) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(time.Millisecond) {
		v.downloads.mu.Lock()
		d := v.downloads.m[url]
		joined := d != nil && d.refs == n
		v.downloads.mu.Unlock()
		if joined {
			return
		}
	}
	t.Fatalf("%d requests never joined the download of %s", n, url)
}

func TestArchiveWaiterLeaves(t *testing.T) {
	e := newTestEnv(t, nil)
	zipb, tree := makeZip(t, map[string]string{"composer.json": `{}`})
	url := e.up.set("/dist/a.zip", zipb)
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: tree, Manifest: emptyManifest}))
	e.up.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := e.v.Archive(ctx, facts("1.0.0", url))
		done <- err
	}()
	waitJoined(t, e.v, url, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	close(e.up.gate)
	// A new request starts afresh and succeeds.
	a, err := e.v.Archive(context.Background(), facts("1.0.0", url))
	if err != nil {
		t.Fatal(err)
	}
	readArchive(t, a)
	assertNoStaging(t, e.v)
}

func TestArchiveSizeLimit(t *testing.T) {
	e := newTestEnv(t, nil)
	e.v.limits.MaxArchiveSize = 1000
	big, tree := makeZip(t, map[string]string{"composer.json": `{}`, "a.bin": string(randomBytes(5000))})
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: tree, Manifest: emptyManifest}))
	// With a Content-Length, refused before reading.
	url := e.up.set("/dist/big.zip", big)
	_, err := e.v.Archive(context.Background(), facts("1.0.0", url))
	var up *UpstreamError
	if !errors.As(err, &up) || up.URL != url || !strings.Contains(err.Error(), "limit") || StatusOf(err) != http.StatusBadGateway {
		t.Errorf("error %v, want an *UpstreamError over the limit naming %s", err, url)
	}
	// Without one (chunked), refused while streaming.
	chunked := newChunkedServer(t, big)
	_, err = e.v.Archive(context.Background(), facts("1.0.0", chunked.URL+"/big.zip"))
	if !errors.As(err, &up) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("chunked: error %v, want an *UpstreamError over the limit", err)
	}
	if e.cache.blobCount() != 0 {
		t.Error("an oversized archive was cached")
	}
	assertNoStaging(t, e.v)
}

func TestArchiveUpstreamErrors(t *testing.T) {
	e := newTestEnv(t, nil)
	_, err := e.v.Archive(context.Background(), facts("1.0.0", e.up.URL+"/dist/missing.zip"))
	if !errors.Is(err, ErrNotFound) || StatusOf(err) != http.StatusNotFound {
		t.Errorf("404: %v", err)
	}
	url := e.up.setStatus("/dist/broken.zip", http.StatusInternalServerError)
	_, err = e.v.Archive(context.Background(), facts("1.0.0", url))
	var up *UpstreamError
	if !errors.As(err, &up) || up.Status != 500 || !strings.Contains(err.Error(), url) || StatusOf(err) != http.StatusBadGateway {
		t.Errorf("500: %v", err)
	}
	_, err = e.v.Archive(context.Background(), facts("1.0.0", "http://127.0.0.1:1/unreachable.zip"))
	if !errors.As(err, &up) || StatusOf(err) != http.StatusBadGateway {
		t.Errorf("unreachable: %v", err)
	}
	_, err = e.v.Archive(context.Background(), facts("1.0.0", ""))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("no URL: %v", err)
	}
	e.cache.err = errors.New("disk on fire")
	_, err = e.v.Archive(context.Background(), facts("1.0.0", e.up.URL+"/dist/x.zip"))
	if err == nil || StatusOf(err) != http.StatusInternalServerError {
		t.Errorf("cache failure: %v (status %d)", err, StatusOf(err))
	}
}

func TestArchiveRevocationAfterCaching(t *testing.T) {
	e := newTestEnv(t, nil)
	zipb, tree := makeZip(t, map[string]string{"composer.json": `{}`})
	url := e.up.set("/dist/a.zip", zipb)
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: tree, Manifest: emptyManifest}))
	a, err := e.v.Archive(context.Background(), facts("1.0.0", url))
	if err != nil {
		t.Fatal(err)
	}
	readArchive(t, a)

	// The key is revoked: the log grows, and the statement is no longer
	// valid.
	revoked := &policy.Evidence{Trust: acmeFoo().Refused(3, "1.0.0", "the statement at index 3 was signed only by acme+1234abcd, revoked in acme at index 12").PackageTrust}
	e.ev.set("acme/foo", revoked)
	e.log.set(13, nil)
	e.v.evidence.seen(13) // another package's lookup proved the new checkpoint

	_, err = e.v.Archive(context.Background(), facts("1.0.0", url))
	wantBlocked(t, err, "revoked in acme at index 12")
	if n := e.up.hits.Load(); n != 1 {
		t.Errorf("%d upstream requests: the verdict must come from the cached bytes", n)
	}
}

func TestArchiveUnsignedPin(t *testing.T) {
	e := newTestEnv(t, &policy.Config{Unsigned: policy.UnsignedAllow})
	first, tree1 := makeZip(t, map[string]string{"composer.json": `{}`, "a.php": "1"})
	second, tree2 := makeZip(t, map[string]string{"composer.json": `{}`, "a.php": "2"})
	url1 := e.up.set("/dist/a.zip", first)
	a, err := e.v.Archive(context.Background(), facts("1.0.0", url1))
	if err != nil {
		t.Fatal(err)
	}
	if a.Verdict.Action != policy.Allow || a.Verdict.Signed {
		t.Errorf("unsigned allowed: %+v", a.Verdict)
	}
	readArchive(t, a)

	// The same version from another URL with other content: the pinned
	// bytes, stored, are served for it, and the other content is not
	// fetched.
	url2 := e.up.set("/mirror/a.zip", second)
	a, err = e.v.Archive(context.Background(), facts("1.0.0", url2))
	if err != nil {
		t.Fatal(err)
	}
	if string(readArchive(t, a)) != string(first) || e.up.hits.Load() != 1 {
		t.Errorf("from another URL: other bytes served, or the pinned ones fetched again (%d requests)", e.up.hits.Load())
	}
	// Evicted, the pin holds against the other content.
	e.cache.evict(sha256.Sum256(first))
	_, err = e.v.Archive(context.Background(), facts("1.0.0", url2))
	wantBlocked(t, err, tree1, tree2, "first seen")

	// The original URL still serves the pinned bytes.
	a, err = e.v.Archive(context.Background(), facts("1.0.0", url1))
	if err != nil {
		t.Fatal(err)
	}
	if string(readArchive(t, a)) != string(first) {
		t.Error("pinned bytes not served")
	}
}

func TestArchiveUnsignedPinNotTakenByRefusedBytes(t *testing.T) {
	// npm: bytes that do not match the metadata's own dist.integrity are
	// refused, and must not become the pin the right bytes are held to.
	e := newTestEnv(t, &policy.Config{Unsigned: policy.UnsignedAllow})
	good, _ := makeZip(t, map[string]string{"package.json": `{}`, "index.js": "good"})
	bad, _ := makeZip(t, map[string]string{"package.json": `{}`, "index.js": "bad"})
	integrity, _ := release.Integrity(strings.NewReader(string(good)))
	f := VersionFacts{Ecosystem: release.NPM, Metadata: policy.Metadata{Package: "left-pad", Version: "1.0.0", Manifest: emptyManifest, Integrity: integrity}}
	f.ArchiveURL = e.up.set("/left-pad.tgz", bad)
	_, err := e.v.Archive(context.Background(), f)
	wantBlocked(t, err, "dist.integrity")
	e.up.set("/left-pad.tgz", good)
	a, err := e.v.Archive(context.Background(), f)
	if err != nil {
		t.Fatalf("the right bytes after refused ones: %v", err)
	}
	readArchive(t, a)
}

func TestArchiveNPMIntegrity(t *testing.T) {
	e := newTestEnv(t, nil)
	tgz, tree := makeZip(t, map[string]string{"package.json": `{}`})
	integrity, _ := release.Integrity(strings.NewReader(string(tgz)))
	e.ev.set("@acme/foo", &policy.Evidence{Trust: tlogtest.NewTrust(release.NPM, "@acme/foo").Key("@acme", "acme").
		Statement(4, release.Statement{Version: "1.0.0", Tree: tree, Manifest: emptyManifest, Archive: integrity}, "acme").PackageTrust})
	f := VersionFacts{Ecosystem: release.NPM, Metadata: policy.Metadata{Package: "@acme/foo", Version: "1.0.0", Manifest: emptyManifest, Integrity: integrity}}
	f.ArchiveURL = e.up.set("/@acme/foo/-/foo-1.0.0.tgz", tgz)
	a, err := e.v.Archive(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Verdict.Signed {
		t.Errorf("verdict %+v", a.Verdict)
	}
	readArchive(t, a)
	// From the cache, after the facts are forgotten, the sha512 is
	// measured again.
	e.v.facts.Purge()
	a, err = e.v.Archive(context.Background(), f)
	if err != nil || !a.Verdict.Signed {
		t.Fatalf("cached: %v %+v", err, a)
	}
	readArchive(t, a)
}

func TestArchiveKeyedByURL(t *testing.T) {
	// A cached archive is found by (ecosystem, package, version, URL).
	e := newTestEnv(t, &policy.Config{Unsigned: policy.UnsignedAllow})
	zipb, _ := makeZip(t, map[string]string{"composer.json": `{}`})
	url := e.up.set("/dist/a.zip", zipb)
	a, err := e.v.Archive(context.Background(), facts("1.0.0", url))
	if err != nil {
		t.Fatal(err)
	}
	readArchive(t, a)
	k := cache.ArchiveKey{Ecosystem: release.Composer, Package: "acme/foo", Version: "1.0.0", Archive: url}
	if _, ok, _ := e.cache.ArchiveRef(context.Background(), k); !ok {
		t.Errorf("no reference under %v", k)
	}
}

func TestArchiveBlockedWithoutDownload(t *testing.T) {
	e := newTestEnv(t, nil)
	e.ev.set("acme/foo", signed())
	url := e.up.set("/dist/a.zip", []byte("whatever"))
	_, err := e.v.Archive(context.Background(), facts("1.0.0", url))
	wantBlocked(t, err, "no valid release statement")
	e.log.set(0, errors.New("log down"))
	e.v.evidence.entries.Purge()
	_, err = e.v.Archive(context.Background(), facts("1.0.0", url))
	wantBlocked(t, err, "log down")
	if n := e.up.hits.Load(); n != 0 {
		t.Errorf("%d upstream requests for archives the metadata already blocks", n)
	}
}

func TestPanicsFailTheRequestOnly(t *testing.T) {
	e := newTestEnv(t, nil)
	e.v.evaluate = func(*tlog.Lookup) *policy.Evidence { panic("evaluation bug") }
	got := e.v.Versions(context.Background(), release.Composer, "acme/foo", []VersionFacts{facts("1.0.0", "")})
	if got[0].Action != policy.Block || !strings.Contains(got[0].Reason(), "internal error") {
		t.Errorf("verdict after a panic: %+v", got[0])
	}
}

func TestStatusOf(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 200},
		{ErrNotFound, 404},
		{errors.Join(errors.New("x"), ErrNotFound), 404},
		{&BlockedError{}, 410},
		{&UpstreamError{URL: "u", Err: errors.New("x")}, 502},
		{context.DeadlineExceeded, 504},
		{errors.New("disk full"), 500},
	} {
		if got := StatusOf(tt.err); got != tt.want {
			t.Errorf("StatusOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
		if got := StatusOf(tt.err); got == 401 || got == 403 {
			t.Errorf("StatusOf(%v) = %d: never", tt.err, got)
		}
	}
}

// TestArchiveMovedUpstream: an archive verified and stored under one URL
// is served for the same version under another (the upstream changed)
// without a download, even while the new URL fails, and only while its
// verdict, made again now, passes.
func TestArchiveMovedUpstream(t *testing.T) {
	e := newTestEnv(t, nil)
	zipb, tree := makeZip(t, map[string]string{"composer.json": `{}`, "src/Foo.php": "<?php"})
	old := e.up.set("/old/acme-foo-1.0.0.zip", zipb)
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: tree, Manifest: emptyManifest}))
	a, err := e.v.Archive(context.Background(), facts("1.0.0", old))
	if err != nil {
		t.Fatal(err)
	}
	readArchive(t, a)

	// The new upstream is down.
	moved := e.up.setStatus("/new/acme-foo-1.0.0.zip", http.StatusBadGateway)
	a, err = e.v.Archive(context.Background(), facts("1.0.0", moved))
	if err != nil {
		t.Fatalf("the stored archive under the new URL: %v", err)
	}
	if got := readArchive(t, a); string(got) != string(zipb) || !a.Verdict.Signed || a.Verdict.Failed {
		t.Errorf("under the new URL: %d bytes, verdict %+v", len(got), a.Verdict)
	}
	if n := e.up.hits.Load(); n != 1 {
		t.Errorf("%d upstream requests, want only the first download", n)
	}
	k := cache.ArchiveKey{Ecosystem: release.Composer, Package: "acme/foo", Version: "1.0.0", Archive: moved}
	if sum, ok, _ := e.cache.ArchiveRef(context.Background(), k); !ok || sum != sha256.Sum256(zipb) {
		t.Errorf("no reference to the stored bytes under the new URL")
	}

	// Another version is not served those bytes.
	_, err = e.v.Archive(context.Background(), facts("1.0.1", e.up.setStatus("/new/acme-foo-1.0.1.zip", http.StatusBadGateway)))
	if err == nil {
		t.Error("1.0.1 served from the bytes of 1.0.0")
	}

	// A statement of other bytes for the version: the stored bytes fail
	// their verdict and are not served under a third URL either.
	other, otherTree := makeZip(t, map[string]string{"composer.json": `{}`, "src/Foo.php": "<?php other();"})
	e.ev.set("acme/foo", signed(release.Statement{Version: "1.0.0", Tree: otherTree, Manifest: emptyManifest}))
	e.log.set(11, nil)
	e.v.evidence.seen(11)
	third := e.up.set("/third/acme-foo-1.0.0.zip", other)
	a, err = e.v.Archive(context.Background(), facts("1.0.0", third))
	if err != nil {
		t.Fatal(err)
	}
	if got := readArchive(t, a); string(got) != string(other) {
		t.Error("bytes the current statement does not cover were served")
	}
}

// TestArchiveMovedNPMIntegrity: the stored bytes are not served under a
// new URL whose metadata names other bytes (dist.integrity).
func TestArchiveMovedNPMIntegrity(t *testing.T) {
	e := newTestEnv(t, &policy.Config{Unsigned: policy.UnsignedAllow})
	first, _ := makeZip(t, map[string]string{"package.json": `{}`, "index.js": "1"})
	f := VersionFacts{Ecosystem: release.NPM, Metadata: policy.Metadata{Package: "left-pad", Version: "1.0.0", Manifest: emptyManifest}}
	f.Integrity, _ = release.Integrity(strings.NewReader(string(first)))
	f.ArchiveURL = e.up.set("/old/left-pad-1.0.0.tgz", first)
	a, err := e.v.Archive(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	readArchive(t, a)

	f.ArchiveURL = e.up.setStatus("/new/left-pad-1.0.0.tgz", http.StatusBadGateway)
	a, err = e.v.Archive(context.Background(), f)
	if err != nil {
		t.Fatalf("same integrity, new URL: %v", err)
	}
	readArchive(t, a)

	g := f
	g.Integrity = "sha512-" + strings.Repeat("A", 86) + "=="
	g.ArchiveURL = e.up.setStatus("/newer/left-pad-1.0.0.tgz", http.StatusBadGateway)
	if _, err := e.v.Archive(context.Background(), g); err == nil || StatusOf(err) != http.StatusBadGateway {
		t.Errorf("metadata naming other bytes: %v, want the new URL's failure (the stored bytes not served)", err)
	}
}
