package front

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
)

func TestServeRendered(t *testing.T) {
	c := testCore(t, nil)
	c.Init()
	renders := 0
	serve := func(doc byte, vs []proxy.VersionVerdict, hdr ...string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/p2/acme/foo.json", nil)
		for i := 0; i < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		c.ServeRendered(w, r, "key", "http://127.0.0.1:8780", [32]byte{doc}, AppendVerdicts(nil, vs), proxy.Stamp{}, nil, func() Rendition {
			renders++
			body := "allowed"
			if len(vs) > 0 && vs[0].Action == policy.Block {
				body = "blocked"
			}
			return Rendition{Body: []byte(body), ContentType: "application/json", CacheControl: "no-cache", Header: http.Header{"X-Test": {body}}}
		})
		return w
	}
	allow := []proxy.VersionVerdict{{Verdict: policy.Verdict{Action: policy.Allow}}}
	block := []proxy.VersionVerdict{{Verdict: policy.Verdict{Action: policy.Block, Reasons: []string{"acme/foo@1: revoked"}}}}

	first := serve(1, allow)
	again := serve(1, allow)
	if renders != 1 || again.Body.String() != "allowed" || again.Header().Get("X-Test") != "allowed" {
		t.Errorf("same document and verdicts: %d renders, %q", renders, again.Body)
	}
	etag := first.Header().Get("ETag")
	if again.Header().Get("ETag") != etag || again.Header().Get("Last-Modified") != first.Header().Get("Last-Modified") {
		t.Errorf("validators moved without a change: %v, %v", first.Header(), again.Header())
	}
	if w := serve(1, allow, "If-None-Match", etag); w.Code != http.StatusNotModified || renders != 1 {
		t.Errorf("revalidation: %d, %d renders", w.Code, renders)
	}
	// A new verdict (a revocation) renders again at once.
	if w := serve(1, block); renders != 2 || w.Body.String() != "blocked" || w.Header().Get("ETag") == etag {
		t.Errorf("after a revocation: %d renders, %q, ETag %s", renders, w.Body, w.Header().Get("ETag"))
	}
	// So does a change of reasons only, and a new upstream document.
	block[0].Reasons = []string{"acme/foo@1: another reason"}
	serve(1, block)
	serve(2, block)
	if renders != 4 {
		t.Errorf("%d renders, want 4", renders)
	}
}

func TestAppendVerdictsDistinct(t *testing.T) {
	// Encodings that must differ: splitting reasons differently, moving a
	// reason to the next version, a flag.
	sets := [][]proxy.VersionVerdict{
		{{Verdict: policy.Verdict{Reasons: []string{"ab"}}}},
		{{Verdict: policy.Verdict{Reasons: []string{"a", "b"}}}},
		{{Verdict: policy.Verdict{Reasons: []string{"a"}}}, {Verdict: policy.Verdict{Reasons: []string{"b"}}}},
		{{Verdict: policy.Verdict{Reasons: []string{"a", "b"}}}, {}},
		{{Verdict: policy.Verdict{Reasons: []string{"ab"}}, KeepSource: true}},
		{{Verdict: policy.Verdict{Reasons: []string{"ab"}, Signed: true}}},
		{{Verdict: policy.Verdict{Reasons: []string{"ab"}, NoticeOnly: true}}},
	}
	seen := map[string]int{}
	for i, s := range sets {
		k := string(AppendVerdicts(nil, s))
		if j, ok := seen[k]; ok {
			t.Errorf("sets %d and %d encode alike", j, i)
		}
		seen[k] = i
	}
}

// TestServeBody: the answers serveBody writes itself are ServeContent's.
func TestServeBody(t *testing.T) {
	body := []byte(`{"packages":{}}`)
	modified := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	const etag = `"abc"`
	for _, c := range []struct {
		name    string
		method  string
		headers []string
	}{
		{"plain", "GET", nil},
		{"head", "HEAD", nil},
		{"etag", "GET", []string{"If-None-Match", `"abc"`}},
		{"weak etag in a list", "GET", []string{"If-None-Match", `"x", W/"abc"`}},
		{"star", "GET", []string{"If-None-Match", `*`}},
		{"other etag, old date", "GET", []string{"If-None-Match", `"x"`, "If-Modified-Since", modified.Format(http.TimeFormat)}},
		{"same date", "GET", []string{"If-Modified-Since", modified.Format(http.TimeFormat)}},
		{"later date", "HEAD", []string{"If-Modified-Since", modified.Add(time.Hour).Format(http.TimeFormat)}},
		{"earlier date", "GET", []string{"If-Modified-Since", modified.Add(-time.Second).Format(http.TimeFormat)}},
		{"bad date", "GET", []string{"If-Modified-Since", "yesterday"}},
		{"range", "GET", []string{"Range", "bytes=2-5"}},
		{"if-match", "GET", []string{"If-Match", `"x"`}},
		{"post", "POST", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			answer := func(serve func(w http.ResponseWriter, r *http.Request)) *httptest.ResponseRecorder {
				r := httptest.NewRequest(c.method, "/p2/acme/foo.json", nil)
				for i := 0; i < len(c.headers); i += 2 {
					r.Header.Set(c.headers[i], c.headers[i+1])
				}
				w := httptest.NewRecorder()
				w.Header().Set("ETag", etag)
				w.Header().Set("Content-Type", "application/json")
				serve(w, r)
				return w
			}
			got := answer(func(w http.ResponseWriter, r *http.Request) {
				serveBody(w, r, newHeaderValues("application/json", "no-cache", etag, modified, int64(len(body))), body, nil)
			})
			want := answer(func(w http.ResponseWriter, r *http.Request) {
				http.ServeContent(w, r, "", modified, bytes.NewReader(body))
			})
			if got.Code != want.Code || got.Body.String() != want.Body.String() || !reflect.DeepEqual(got.Header(), want.Header()) {
				t.Errorf("got %d %v %q, ServeContent %d %v %q", got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
			}
		})
	}
}

// TestRenderedSpill: a large rendered document is kept in a file, not in
// memory, served again from it as it was served first (ranges and
// revalidation included), and its file goes when the document does.
func TestRenderedSpill(t *testing.T) {
	dir := t.TempDir()
	c := testCore(t, nil)
	c.RenderedDir = dir
	c.Init()
	c.Rendered.maxDisk = 3 * SpillBytes // room for two of the documents below
	renders := 0
	big := func(b byte) []byte { return bytes.Repeat([]byte{b}, SpillBytes+SpillBytes/4) }
	serve := func(key string, body []byte, hdr ...string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/"+key, nil)
		for i := 0; i < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		c.ServeRendered(w, r, key, "http://127.0.0.1:8780", [32]byte{1}, nil, proxy.Stamp{}, nil, func() Rendition {
			renders++
			return Rendition{Body: body, ContentType: "application/json", CacheControl: "no-cache"}
		})
		return w
	}
	files := func() []string {
		f, _ := filepath.Glob(filepath.Join(dir, "sigil-rendered-*", "*"))
		return f
	}

	a := big('a')
	first := serve("a", a)
	again := serve("a", a)
	if renders != 1 || !bytes.Equal(first.Body.Bytes(), a) || !bytes.Equal(again.Body.Bytes(), a) {
		t.Fatalf("%d renders; bodies of %d and %d bytes, want %d", renders, first.Body.Len(), again.Body.Len(), len(a))
	}
	if !reflect.DeepEqual(first.Header(), again.Header()) {
		t.Errorf("headers from the file %v, from memory %v", again.Header(), first.Header())
	}
	if e := c.Rendered.get("a\x00http://127.0.0.1:8780"); e == nil || e.r.Body != nil || e.file == "" || c.Rendered.bytes > 4096 {
		t.Errorf("kept in memory: %d bytes", c.Rendered.bytes)
	}
	if f := files(); len(f) != 1 {
		t.Fatalf("files %v, want one", f)
	}
	if w := serve("a", a, "Range", "bytes=10-19"); w.Code != http.StatusPartialContent || w.Body.String() != "aaaaaaaaaa" {
		t.Errorf("range from the file: %d %q", w.Code, w.Body)
	}
	if w := serve("a", a, "If-None-Match", first.Header().Get("ETag")); w.Code != http.StatusNotModified {
		t.Errorf("revalidation from the file: %d", w.Code)
	}

	// Two more documents: the first one's file goes with it.
	serve("b", big('b'))
	serve("c", big('c'))
	if f := files(); len(f) != 2 || c.Rendered.Len() != 2 {
		t.Errorf("files %v and %d documents after an eviction, want 2 and 2", f, c.Rendered.Len())
	}
	if w := serve("a", a); renders != 4 || !bytes.Equal(w.Body.Bytes(), a) {
		t.Errorf("the evicted document: %d renders, %d bytes", renders, w.Body.Len())
	}
}

// gate holds the goroutine that reaches it first, once, until released.
type gate struct {
	first            atomic.Bool
	reached, release chan struct{}
}

func newGate() *gate { return &gate{reached: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) pass() {
	if g.first.CompareAndSwap(false, true) {
		close(g.reached)
		<-g.release
	}
}

// heldWriter is a client that has its body once the handler wrote it,
// while the handler is held in the Write.
type heldWriter struct {
	*httptest.ResponseRecorder
	*gate
}

func (w heldWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseRecorder.Write(b)
	w.pass()
	return n, err
}

// heldServed is a ServedStore that holds the first request to record a
// digest just after it recorded it.
type heldServed struct {
	*MemServed
	*gate
}

func (s heldServed) ServedState(ctx context.Context, key string, digest []byte) (time.Time, error) {
	t, err := s.MemServed.ServedState(ctx, key, digest)
	s.pass()
	return t, err
}

// TestRenderedRaceLastModified: two renders of one document race a
// revocation: one from the verdicts made after it ("blocked"), one from
// verdicts made before it ("allowed"), which recorded its Last-Modified
// later. The client of the stale one revalidates with If-Modified-Since
// alone (as Composer does): it gets the document the current verdicts
// make, not a 304 that keeps the revoked version in its copy; and the
// current document's new Last-Modified then revalidates.
func TestRenderedRaceLastModified(t *testing.T) {
	allow := []proxy.VersionVerdict{{Verdict: policy.Verdict{Action: policy.Allow}}}
	block := []proxy.VersionVerdict{{Verdict: policy.Verdict{Action: policy.Block, Reasons: []string{"acme/foo@1: revoked"}}}}
	rig := func(t *testing.T, served ServedStore) func(w http.ResponseWriter, vs []proxy.VersionVerdict, hdr ...string) {
		c := testCore(t, nil)
		c.Served = served
		c.Init()
		return func(w http.ResponseWriter, vs []proxy.VersionVerdict, hdr ...string) {
			r := httptest.NewRequest("GET", "/p2/acme/foo.json", nil)
			for i := 0; i < len(hdr); i += 2 {
				r.Header.Set(hdr[i], hdr[i+1])
			}
			c.ServeRendered(w, r, "key", "http://127.0.0.1:8780", [32]byte{1}, AppendVerdicts(nil, vs), proxy.Stamp{}, nil, func() Rendition {
				body := "allowed"
				if vs[0].Action == policy.Block {
					body = "blocked"
				}
				return Rendition{Body: []byte(body), ContentType: "application/json", CacheControl: "no-cache"}
			})
		}
	}
	revalidate := func(t *testing.T, serve func(w http.ResponseWriter, vs []proxy.VersionVerdict, hdr ...string), stale, current *httptest.ResponseRecorder) {
		t.Helper()
		if stale.Body.String() != "allowed" || current.Body.String() != "blocked" {
			t.Fatalf("the racing renders served %q and %q", stale.Body, current.Body)
		}
		w := httptest.NewRecorder()
		serve(w, block, "If-Modified-Since", stale.Header().Get("Last-Modified"))
		if w.Code != http.StatusOK || w.Body.String() != "blocked" {
			t.Errorf("revalidation of the stale document, Last-Modified %s (the current one's %s): %d %q, want 200 \"blocked\"",
				stale.Header().Get("Last-Modified"), current.Header().Get("Last-Modified"), w.Code, w.Body)
		}
		lm := w.Header().Get("Last-Modified")
		w = httptest.NewRecorder()
		serve(w, block, "If-Modified-Since", lm)
		if w.Code != http.StatusNotModified {
			t.Errorf("revalidation of the current document: %d", w.Code)
		}
	}

	// The current render is held between its Last-Modified and keeping
	// it; the stale one is served and kept meanwhile.
	t.Run("kept after a later one", func(t *testing.T) {
		g := newGate()
		serve := rig(t, heldServed{NewMemServed(), g})
		current, done := httptest.NewRecorder(), make(chan struct{})
		go func() {
			defer close(done)
			serve(current, block)
		}()
		<-g.reached
		stale := httptest.NewRecorder()
		serve(stale, allow)
		close(g.release)
		<-done
		revalidate(t, serve, stale, current)
	})

	// The current render is kept first; the stale one's client has its
	// body, and asks again, while its handler is still in the Write.
	t.Run("asked again while served", func(t *testing.T) {
		serve := rig(t, NewMemServed())
		current := httptest.NewRecorder()
		serve(current, block)
		g := newGate()
		stale, done := heldWriter{httptest.NewRecorder(), g}, make(chan struct{})
		go func() {
			defer close(done)
			serve(stale, allow)
		}()
		<-g.reached
		defer func() {
			close(g.release)
			<-done
		}()
		revalidate(t, serve, stale.ResponseRecorder, current)
	})
}

// A kept document holds its own bytes, not the spare capacity of the
// buffer it was rendered into (sized for the upstream document, which the
// abbreviated npm form is a fraction of).
func TestRenderedKeepsOnlyItsBytes(t *testing.T) {
	c := testCore(t, nil)
	c.Init()
	w := httptest.NewRecorder()
	c.ServeRendered(w, httptest.NewRequest("GET", "/x", nil), "x", "http://127.0.0.1:8780", [32]byte{1}, nil, proxy.Stamp{}, nil, func() Rendition {
		b := make([]byte, 0, 1<<20)
		return Rendition{Body: append(b, `{"name":"x"}`...), ContentType: "application/json"}
	})
	e := c.Rendered.get("x\x00http://127.0.0.1:8780")
	if w.Body.String() != `{"name":"x"}` || e == nil || string(e.r.Body) != `{"name":"x"}` {
		t.Fatalf("served %q, kept %v", w.Body, e)
	}
	if cap(e.r.Body) > 64 {
		t.Errorf("the kept document holds a buffer of %d bytes for its %d", cap(e.r.Body), len(e.r.Body))
	}
}

// TestRenderedGzip: a client that accepts gzip (Composer's curl and npm
// both do) gets the kept document gzipped, under its own ETag, and
// revalidates it; one that does not, or refuses it with q=0, gets it as
// it is. Both answers say they vary by Accept-Encoding.
func TestRenderedGzip(t *testing.T) {
	c := testCore(t, nil)
	c.Init()
	body := bytes.Repeat([]byte(`{"name":"acme/many","version":"1.0.0"},`), 1000)
	serve := func(hdr ...string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/p2/acme/many.json", nil)
		for i := 0; i < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		c.ServeRendered(w, r, "many", "http://127.0.0.1:8780", [32]byte{1}, nil, proxy.Stamp{}, nil, func() Rendition {
			return Rendition{Body: body, ContentType: "application/json", CacheControl: "no-cache"}
		})
		return w
	}
	plain := serve()
	if plain.Header().Get("Content-Encoding") != "" || !bytes.Equal(plain.Body.Bytes(), body) {
		t.Fatalf("without Accept-Encoding: encoding %q, %d bytes", plain.Header().Get("Content-Encoding"), plain.Body.Len())
	}
	gz := serve("Accept-Encoding", "gzip, deflate")
	if gz.Code != http.StatusOK || gz.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("with Accept-Encoding gzip: %d, encoding %q", gz.Code, gz.Header().Get("Content-Encoding"))
	}
	if n, _ := strconv.Atoi(gz.Header().Get("Content-Length")); n != gz.Body.Len() || n >= len(body)/4 {
		t.Errorf("gzipped Content-Length %q for %d bytes of body (%d plain)", gz.Header().Get("Content-Length"), gz.Body.Len(), len(body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("the gzipped body does not decompress to the document: %v", err)
	}
	for _, w := range []*httptest.ResponseRecorder{plain, gz} {
		if w.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("Vary %q, want Accept-Encoding", w.Header().Get("Vary"))
		}
	}
	if gz.Header().Get("ETag") == plain.Header().Get("ETag") {
		t.Errorf("both representations have ETag %s", gz.Header().Get("ETag"))
	}
	if w := serve("Accept-Encoding", "gzip", "If-None-Match", gz.Header().Get("ETag")); w.Code != http.StatusNotModified {
		t.Errorf("revalidating the gzipped document: %d, want 304", w.Code)
	}
	if w := serve("Accept-Encoding", "gzip;q=0, identity"); w.Header().Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), body) {
		t.Errorf("gzip;q=0 was answered with encoding %q", w.Header().Get("Content-Encoding"))
	}
	if w := serve("Accept-Encoding", "gzip", "Range", "bytes=0-9"); w.Header().Get("Content-Encoding") != "" || w.Body.String() != string(body[:10]) {
		t.Errorf("a range was answered with encoding %q: %q", w.Header().Get("Content-Encoding"), w.Body.String())
	}
}

// TestRenderedCountsGzipCopy: a body served gzipped counts with its gzip
// copy (an eighth of it), made on first use, so that what is kept stays
// within the bound once every copy is made.
func TestRenderedCountsGzipCopy(t *testing.T) {
	c := NewRendered(100, 1<<20)
	body := bytes.Repeat([]byte("x"), 100<<10)
	for i := range 10 {
		c.put(strconv.Itoa(i), &rendered{r: Rendition{Body: body}, gz: &gzBody{}})
	}
	// 10 bodies and their headers fit in 1 MiB; with their copies, 9.
	if n := c.Len(); n != 9 {
		t.Errorf("%d documents of 100 KiB kept in 1 MiB, want 9 with their gzip copies", n)
	}
}
