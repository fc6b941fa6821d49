package composer

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
)

// blockedKey names, in a request's context, the versions checkerByRequest
// blocks and those whose source it keeps.
type blockedKey struct{}

type requestVerdicts struct {
	blocked, keepSource map[string]bool
}

// checkerByRequest decides each request's versions by its context, so
// that concurrent requests for one document get different verdicts.
type checkerByRequest struct{ fakeChecker }

func (c checkerByRequest) Versions(ctx context.Context, eco, pkg string, facts []proxy.VersionFacts) []proxy.VersionVerdict {
	rv := ctx.Value(blockedKey{}).(requestVerdicts)
	out := make([]proxy.VersionVerdict, len(facts))
	for i, f := range facts {
		out[i] = proxy.VersionVerdict{Verdict: policy.Verdict{Action: policy.Allow, Signed: true}, KeepSource: rv.keepSource[f.Version]}
		if rv.blocked[f.Version] {
			out[i].Action = policy.Block
			out[i].Reasons = []string{pkg + "@" + f.Version + ": blocked for this request"}
		}
	}
	return out
}

// TestP2SharedParseConcurrentVerdicts serves one upstream document from
// many goroutines at once, each with its own verdicts. The parse is
// shared (kept by its bytes); every answer must still be exactly what its
// own verdicts make of it, and nothing shared may change (go test -race).
func TestP2SharedParseConcurrentVerdicts(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Checker = checkerByRequest{} })
	var versions []map[string]any
	var names []string
	for i := range 40 {
		v := fmt.Sprintf("v1.%d.0", 39-i)
		versions = append(versions, testVersion(v, fmt.Sprintf("c%d", 39-i)))
		names = append(names, v)
	}
	r.up.Set(upstreamBase+"/p2/acme/foo.json", minifiedDoc("acme/foo", versions))

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rv := requestVerdicts{blocked: map[string]bool{}, keepSource: map[string]bool{}}
			var want []string
			for i, v := range names {
				switch {
				case (i+g)%(g+2) == 0:
					rv.blocked[v] = true
				default:
					want = append(want, v)
					rv.keepSource[v] = (i+g)%3 == 0
				}
			}
			ctx := context.WithValue(context.Background(), blockedKey{}, rv)
			for range 10 {
				req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8780/composer/p2/acme/foo.json", nil).WithContext(ctx)
				w := httptest.NewRecorder()
				r.h.ServeHTTP(w, req)
				if w.Code != 200 {
					t.Errorf("goroutine %d: status %d", g, w.Code)
					return
				}
				vs, _ := servedVersions(t, w.Body.Bytes(), "acme/foo")
				var got []string
				for _, v := range vs {
					name := v["version"].(string)
					got = append(got, name)
					if _, ok := v["source"]; ok != rv.keepSource[name] {
						t.Errorf("goroutine %d: %s has a source: %v, want %v", g, name, ok, rv.keepSource[name])
					}
					if _, ok := v["version_normalized"]; ok || v["dist"] == nil {
						t.Errorf("goroutine %d: %s served as %v", g, name, v)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("goroutine %d: served %v, want %v", g, got, want)
				}
			}
		}()
	}
	wg.Wait()
	if n := r.h.parsed.Len(); n != 1 {
		t.Errorf("%d parsed documents kept, want the one", n)
	}
}

// TestP2ParsedByBytes: a document is parsed again when its bytes change,
// and its verdicts are asked for on every request regardless.
func TestP2ParsedByBytes(t *testing.T) {
	r := newRig(t)
	setupFoo(r)
	r.Get("/composer/p2/acme/foo.json")
	r.checker.set("v2.0.0", policy.Block, false, "acme/foo@v2.0.0: revoked a second ago")
	_, body := r.Get("/composer/p2/acme/foo.json")
	if vs, _ := servedVersions(t, body, "acme/foo"); len(vs) != 2 || r.checker.Calls != 2 {
		t.Errorf("after a revocation: %d versions, %d Checker calls", len(vs), r.checker.Calls)
	}
	r.up.Set(upstreamBase+"/p2/acme/foo.json", minifiedDoc("acme/foo", []map[string]any{testVersion("v3.0.0", "c3"), testVersion("v2.0.0", "c2")}))
	_, body = r.Get("/composer/p2/acme/foo.json")
	vs, _ := servedVersions(t, body, "acme/foo")
	if len(vs) != 1 || vs[0]["version"] != "v3.0.0" {
		t.Errorf("after an upstream change: %v", vs)
	}
	if n := r.h.parsed.Len(); n != 2 {
		t.Errorf("%d parsed documents kept, want both", n)
	}
}
