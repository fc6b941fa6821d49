package npm

import (
	"crypto/sha1"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
)

// bigPackument returns a packument of n versions shaped like a popular
// package's full packument: every version with the fields npm publishes,
// dependencies changing by major, each signed by k.
func bigPackument(b testing.TB, k *regKey, n int) []byte {
	var vs []string
	var times []string
	for i := range n {
		major, minor, patch := 1+i/100, (i/10)%10, i%10
		v := fmt.Sprintf("%d.%d.%d", major, minor, patch)
		integ := integrityOf([]byte("big" + v))
		sum := sha1.Sum([]byte(v))
		vs = append(vs, fmt.Sprintf(`%q:{"name":"big","version":%q,"description":"A package with many releases, used to measure packument filtering.",`+
			`"keywords":["big","benchmark","metadata"],"homepage":"https://acme.test/big#readme","bugs":{"url":"https://git.test/acme/big/issues"},`+
			`"repository":{"type":"git","url":"git+https://git.test/acme/big.git"},"author":{"name":"Ann Acme","email":"ann@acme.test"},"license":"MIT",`+
			`"main":"lib/index.js","types":"lib/index.d.ts","files":["lib"],"engines":{"node":">=18"},`+
			`"scripts":{"build":"tsc -p .","test":"node --test","prepublishOnly":"npm run build"},`+
			`"dependencies":{"acme-util":"^%d.0.0","debug":"^4.3.4","semver":"^7.5.0"},`+
			`"devDependencies":{"typescript":"^5.4.0","@types/node":"^20.0.0"},`+
			`"gitHead":"%x","_id":"big@%s","_nodeVersion":"20.11.0","_npmVersion":"10.2.4",`+
			`"dist":{"integrity":%q,"shasum":"%x","tarball":"%s/big/-/big-%s.tgz","fileCount":42,"unpackedSize":123456,"signatures":%s},`+
			`"_npmUser":{"name":"ann","email":"ann@acme.test"},"directories":{},"maintainers":[{"name":"ann","email":"ann@acme.test"}],`+
			`"_npmOperationalInternal":{"host":"s3://npm-registry-packages","tmp":"tmp/big_%s_1700000000000_0.1"},"_hasShrinkwrap":false}`,
			v, v, major, sum, v, integ, sum, upstreamBase, v, sigs(b, k, "big", v, integ), v))
		times = append(times, fmt.Sprintf(`%q:"20%02d-%02d-01T12:00:00.000Z"`, v, 10+i/12, 1+i%12))
	}
	return []byte(`{"_id":"big","_rev":"501-abc","name":"big","dist-tags":{"latest":"` + fmt.Sprintf("%d.9.9", n/100) + `"},` +
		`"versions":{` + strings.Join(vs, ",") + `},"time":{"created":"2010-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",` + strings.Join(times, ",") + `},` +
		`"maintainers":[{"name":"ann","email":"ann@acme.test"}],"description":"big","readme":"` + strings.Repeat("lorem ipsum ", 500) + `","license":"MIT"}`)
}

func benchRig(b *testing.B, n int) (*rig, *regKey) {
	k := newRegKey(b)
	r := newRig(b, withSignatures(SignaturesWarn), func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	r.up.Set(keysURL, keysDoc([]*regKey{k}))
	r.up.Set(upstreamBase+"/big", bigPackument(b, k, n))
	// Every 10th version blocked, for realism.
	for i := 0; i < n; i += 10 {
		r.checker.set(fmt.Sprintf("%d.%d.%d", 1+i/100, (i/10)%10, i%10), policy.Block, "blocked for the benchmark")
	}
	return r, k
}

// BenchmarkPackument_500Versions measures one packument request for a
// package with 500 versions, end to end in the handler, as every request
// after the first for an unchanged upstream packument: one Checker call,
// 500 registry signatures (verified once, then remembered), filter, move
// tags, write, hash, serve; the parsed packument (500 manifest digests,
// memoized per dependency set) is the one kept from the first request.
// The fakes answer from memory, so this is sigil's own cost.
func BenchmarkPackument_500Versions(b *testing.B) {
	benchPackument(b, "", benchWarm)
}

// BenchmarkPackument_500Versions_Abbreviated is the same for the
// abbreviated form.
func BenchmarkPackument_500Versions_Abbreviated(b *testing.B) {
	benchPackument(b, corgiAccept, benchWarm)
}

// BenchmarkPackument_500Versions_Cold parses the upstream packument on
// every request, as for the first request after the upstream changed.
func BenchmarkPackument_500Versions_Cold(b *testing.B) {
	benchPackument(b, "", benchColdParse)
}

// BenchmarkPackument_500Versions_ColdSignatures also verifies the 500
// registry signatures on every request: the first request for a package.
func BenchmarkPackument_500Versions_ColdSignatures(b *testing.B) {
	benchPackument(b, "", benchColdParse|benchColdSignatures)
}

// BenchmarkPackument_500Versions_Revalidate is npm revalidating its copy
// (If-None-Match) and getting a 304: the same work, minus the body.
func BenchmarkPackument_500Versions_Revalidate(b *testing.B) {
	benchPackument(b, "", benchRevalidate)
}

const (
	benchColdParse      = 1 << iota // parse the packument on every request
	benchColdSignatures             // verify its signatures on every request
	benchRevalidate                 // ask with If-None-Match, get a 304
	benchWarm           = 0         // keep what the first request made
)

func benchPackument(b *testing.B, accept string, mode int) {
	r, _ := benchRig(b, 500)
	upBytes := len(r.up.Docs[upstreamBase+"/big"])
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8780/npm/big", nil)
	if accept != "" {
		k, v, _ := strings.Cut(accept, ": ")
		req.Header.Set(k, v)
	}
	want := http.StatusOK
	if mode&benchRevalidate != 0 {
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		req.Header.Set("If-None-Match", w.Header().Get("ETag"))
		want = http.StatusNotModified
	}
	var outBytes int
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if mode&benchColdParse != 0 {
			r.h.parsed.Purge()
		}
		if mode&benchColdSignatures != 0 {
			r.h.keys.verified.Purge()
		}
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		outBytes = w.Body.Len()
		r.checker.Facts = r.checker.Facts[:0]
		r.up.Asked = r.up.Asked[:0]
	}
	b.ReportMetric(float64(upBytes), "upstream-bytes")
	b.ReportMetric(float64(outBytes), "served-bytes")
}

// BenchmarkParsePackument_500Versions is the parsing share of the above
// (also paid by a tarball request that finds no recent packument).
func BenchmarkParsePackument_500Versions(b *testing.B) {
	k := newRegKey(b)
	body := bigPackument(b, k, 500)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := parsePackument(body, "big"); err != nil {
			b.Fatal(err)
		}
	}
}
