package composer

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

// realisticVersions returns n versions of acme/big shaped like a popular
// package on a public repository: newest first, most fields unchanged
// from one version to the next, references and times always changing.
func realisticVersions(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range n {
		major, minor, patch := 1+i/100, (i/10)%10, i%10
		v := fmt.Sprintf("v%d.%d.%d", major, minor, patch)
		sum := sha1.Sum([]byte(v))
		ref := hex.EncodeToString(sum[:])
		require := map[string]any{"php": ">=8.1", "psr/log": "^2.0 || ^3.0", "acme/util": fmt.Sprintf("^%d.0", major)}
		out[n-1-i] = map[string]any{
			"name":               "acme/big",
			"description":        "A package with many releases, used to measure metadata filtering.",
			"keywords":           []any{"big", "benchmark", "metadata"},
			"homepage":           "https://acme.test/big",
			"version":            v,
			"version_normalized": fmt.Sprintf("%d.%d.%d.0", major, minor, patch),
			"license":            []any{"MIT"},
			"authors":            []any{map[string]any{"name": "Ann Acme", "email": "ann@acme.test", "homepage": "https://acme.test"}},
			"source":             map[string]any{"url": "https://git.test/acme/big.git", "type": "git", "reference": ref},
			"dist":               map[string]any{"url": "https://archives.test/repos/acme/big/zipball/" + ref, "type": "zip", "shasum": "", "reference": ref},
			"type":               "library",
			"time":               fmt.Sprintf("20%02d-%02d-01T12:00:00+00:00", 10+i/12, 1+i%12),
			"autoload":           map[string]any{"psr-4": map[string]any{"Acme\\Big\\": "src/"}},
			"require":            require,
			"require-dev":        map[string]any{"phpunit/phpunit": "^10.0", "phpstan/phpstan": "^1.10"},
			"support":            map[string]any{"issues": "https://git.test/acme/big/issues", "source": "https://git.test/acme/big/tree/" + v},
			"funding":            []any{map[string]any{"url": "https://acme.test/fund", "type": "custom"}},
		}
	}
	return out
}

func benchRig(b *testing.B, n int) *rig {
	r := newRig(b, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	doc, err := json.Marshal(minifiedDoc("acme/big", realisticVersions(n)))
	if err != nil {
		b.Fatal(err)
	}
	r.up.Set(upstreamBase+"/p2/acme/big.json", doc)
	return r
}

// BenchmarkP2_500Versions measures one metadata request for a package with
// 500 versions, end to end in the handler, as every request after the
// first for an unchanged upstream document: one Checker call, rewrite,
// re-minify, hash, serve; the parsed document (expanded, 500 manifest
// digests) is the one kept from the first request. The fakes answer from
// memory, so this is sigil's own cost. Every 10th version is blocked, for
// realism.
func BenchmarkP2_500Versions(b *testing.B) { benchP2(b, false, false) }

// BenchmarkP2_500Versions_Cold is the same with nothing kept: the upstream
// document is parsed and expanded and its 500 manifests digested on every
// request, as for the first request after the upstream changed.
func BenchmarkP2_500Versions_Cold(b *testing.B) { benchP2(b, true, false) }

// BenchmarkP2_500Versions_Revalidate is a client revalidating its copy
// (If-None-Match) and getting a 304: the same work, minus the body.
func BenchmarkP2_500Versions_Revalidate(b *testing.B) { benchP2(b, false, true) }

func benchP2(b *testing.B, cold, revalidate bool) {
	r := benchRig(b, 500)
	for i := 0; i < 500; i += 10 {
		r.checker.set(fmt.Sprintf("v%d.%d.%d", 1+i/100, (i/10)%10, i%10), policy.Block, false, "blocked for the benchmark")
	}
	r.checker.Facts = nil
	upBytes := len(r.up.Docs[upstreamBase+"/p2/acme/big.json"])
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8780/composer/p2/acme/big.json", nil)
	want := http.StatusOK
	if revalidate {
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		req.Header.Set("If-None-Match", w.Header().Get("ETag"))
		want = http.StatusNotModified
	}
	var outBytes int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if cold {
			r.h.parsed.Purge()
		}
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatalf("status %d", w.Code)
		}
		outBytes = w.Body.Len()
		r.checker.Facts = r.checker.Facts[:0]
	}
	b.ReportMetric(float64(upBytes), "upstream-bytes")
	b.ReportMetric(float64(outBytes), "served-bytes")
}

// BenchmarkParseP2_500Versions is the parsing and expansion share of the
// above (also paid by every archive request, which looks its version up).
func BenchmarkParseP2_500Versions(b *testing.B) {
	r := benchRig(b, 500)
	body := r.up.Docs[upstreamBase+"/p2/acme/big.json"]
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parseP2(body, "acme/big"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatic_500Versions is the baseline for BenchmarkP2_500Versions:
// the same upstream document served as a static file (http.ServeContent
// from memory, as a plain file server or caching proxy would).
func BenchmarkStatic_500Versions(b *testing.B) {
	r := benchRig(b, 500)
	body := r.up.Docs[upstreamBase+"/p2/acme/big.json"]
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8780/p2/acme/big.json", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		w.Header().Set("Content-Type", "application/json")
		http.ServeContent(w, req, "", fronttest.ArchiveTime, bytes.NewReader(body))
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
