package npm

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

// blockedKey names, in a request's context, the versions checkerByRequest
// blocks.
type blockedKey struct{}

// checkerByRequest decides each request's versions by its context, so
// that concurrent requests for one packument get different verdicts.
type checkerByRequest struct{ fakeChecker }

func (c checkerByRequest) Versions(ctx context.Context, eco, pkg string, facts []proxy.VersionFacts) []proxy.VersionVerdict {
	blocked := ctx.Value(blockedKey{}).(map[string]bool)
	out := make([]proxy.VersionVerdict, len(facts))
	for i, f := range facts {
		out[i] = proxy.VersionVerdict{Verdict: policy.Verdict{Action: policy.Allow, Signed: true}}
		if blocked[f.Version] {
			out[i].Verdict = policy.Verdict{Action: policy.Block, Failed: true, Reasons: []string{pkg + "@" + f.Version + ": blocked for this request"}}
		}
	}
	return out
}

// TestPackumentSharedParseConcurrentVerdicts serves one upstream
// packument, in both forms, from many goroutines at once, each with its
// own verdicts. The parse is shared (kept by its bytes); every answer must
// still be exactly what its own verdicts make of it, and nothing shared
// may change (go test -race).
func TestPackumentSharedParseConcurrentVerdicts(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Checker = checkerByRequest{} })
	var vs []ver
	var names []string
	for i := range 40 {
		v := fmt.Sprintf("1.%d.0", i)
		vs = append(vs, ver{v: v, deps: fmt.Sprintf(`{"bar":"^%d.0.0"}`, i%3), extra: `"scripts":{"install":"node x.js"}`})
		names = append(names, v)
	}
	r.up.Set(upstreamBase+"/foo", packumentDoc("foo", map[string]string{"latest": "1.39.0"}, vs...))

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			blocked := map[string]bool{}
			var want, wantBlocked []string
			for i, v := range names {
				if (i+g)%(g+2) == 0 {
					blocked[v] = true
					wantBlocked = append(wantBlocked, v)
				} else {
					want = append(want, v)
				}
			}
			slices.Sort(want)
			slices.Sort(wantBlocked)
			ctx := context.WithValue(context.Background(), blockedKey{}, blocked)
			for n := range 10 {
				req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8780/npm/foo", nil).WithContext(ctx)
				abbreviated := (g+n)%2 == 0
				if abbreviated {
					req.Header.Set("Accept", "application/vnd.npm.install-v1+json")
				}
				w := httptest.NewRecorder()
				r.h.ServeHTTP(w, req)
				if w.Code != 200 {
					t.Errorf("goroutine %d: status %d", g, w.Code)
					return
				}
				doc := fronttest.DecodeObject(t, w.Body.Bytes())
				served := doc["versions"].(map[string]any)
				if got := slices.Sorted(maps.Keys(served)); !slices.Equal(got, want) {
					t.Errorf("goroutine %d: served %v, want %v", g, got, want)
				}
				restricted := doc["policyRestrictions"].(map[string]any)["versions"].(map[string]any)
				if got := slices.Sorted(maps.Keys(restricted)); !slices.Equal(got, wantBlocked) {
					t.Errorf("goroutine %d: restricted %v, want %v", g, got, wantBlocked)
				}
				if _, ok := doc["time"]; ok == abbreviated {
					t.Errorf("goroutine %d: abbreviated=%v with time=%v", g, abbreviated, ok)
				}
				for v, o := range served {
					if _, ok := o.(map[string]any)["hasInstallScript"]; !ok {
						t.Errorf("goroutine %d: %s hasInstallScript=%v, abbreviated=%v", g, v, ok, abbreviated)
					}
				}
				if times, ok := doc["time"].(map[string]any); ok {
					for v := range blocked {
						if _, ok := times[v]; ok {
							t.Errorf("goroutine %d: time of blocked %s served", g, v)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := r.h.parsed.Len(); n != 1 {
		t.Errorf("%d parsed packuments kept, want the one", n)
	}
}

// TestPackumentParsedByBytes: a packument is parsed again when its bytes
// change, and its verdicts are asked for on every request regardless.
func TestPackumentParsedByBytes(t *testing.T) {
	r := newRig(t)
	r.up.Set(upstreamBase+"/foo", fooDoc())
	r.Get("/npm/foo")
	r.checker.set("1.0.0", policy.Block, "foo@1.0.0: revoked a second ago")
	_, body := r.Get("/npm/foo")
	if _, ok := fronttest.DecodeObject(t, body)["versions"].(map[string]any)["1.0.0"]; ok || r.checker.Calls != 2 {
		t.Errorf("after a revocation: 1.0.0 served %v, %d Checker calls", ok, r.checker.Calls)
	}
	r.up.Set(upstreamBase+"/foo", packumentDoc("foo", map[string]string{"latest": "3.0.0"}, ver{v: "3.0.0"}))
	_, body = r.Get("/npm/foo")
	if got := keysOf(fronttest.DecodeObject(t, body)["versions"]); !slices.Equal(got, []string{"3.0.0"}) {
		t.Errorf("after an upstream change: %v", got)
	}
	if n := r.h.parsed.Len(); n != 2 {
		t.Errorf("%d parsed packuments kept, want both", n)
	}
}
