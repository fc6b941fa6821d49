package front

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
