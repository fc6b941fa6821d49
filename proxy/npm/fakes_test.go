package npm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
)

// upstreamBase is the configured upstream in tests. Nothing listens there:
// the fake Upstream answers from memory, and a test that reached the
// network would fail.
const upstreamBase = "https://upstream.test"

// fakeUpstream serves documents from a map and records every URL asked.
type fakeUpstream struct {
	mu    sync.Mutex
	docs  map[string][]byte
	errs  map[string]error
	asked []string
	stale bool
}

func newFakeUpstream() *fakeUpstream {
	return &fakeUpstream{docs: map[string][]byte{}, errs: map[string]error{}}
}

func (u *fakeUpstream) set(url string, body any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	switch b := body.(type) {
	case string:
		u.docs[url] = []byte(b)
	case []byte:
		u.docs[url] = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		u.docs[url] = j
	}
}

func (u *fakeUpstream) Document(ctx context.Context, url string) (*proxy.Document, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.asked = append(u.asked, url)
	if err := u.errs[url]; err != nil {
		return nil, err
	}
	b, ok := u.docs[url]
	if !ok {
		return nil, fmt.Errorf("%s: %w", url, proxy.ErrNotFound)
	}
	return &proxy.Document{Body: bytes.Clone(b), Stale: u.stale}, nil
}

func (u *fakeUpstream) urls() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.asked)
}

// fakeChecker decides by a table of version → verdict (default Allow,
// signed) and serves archives from memory.
type fakeChecker struct {
	mu        sync.Mutex
	verdicts  map[string]policy.Verdict // by version
	archives  map[string][]byte         // by ArchiveURL
	calls     int
	facts     [][]proxy.VersionFacts
	archFacts []proxy.VersionFacts
	short     bool // break the contract: return one verdict too few
}

func newFakeChecker() *fakeChecker {
	return &fakeChecker{verdicts: map[string]policy.Verdict{}, archives: map[string][]byte{}}
}

func (c *fakeChecker) set(version string, a policy.Action, reasons ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verdicts[version] = policy.Verdict{Action: a, Reasons: reasons, Failed: a == policy.Block}
}

func (c *fakeChecker) verdict(version string) policy.Verdict {
	if v, ok := c.verdicts[version]; ok {
		return v
	}
	return policy.Verdict{Action: policy.Allow, Signed: true}
}

func (c *fakeChecker) Versions(ctx context.Context, eco, pkg string, facts []proxy.VersionFacts) []proxy.VersionVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.facts = append(c.facts, slices.Clone(facts))
	out := make([]proxy.VersionVerdict, len(facts))
	for i, f := range facts {
		out[i] = proxy.VersionVerdict{Verdict: c.verdict(f.Version)}
	}
	if c.short && len(out) > 0 {
		out = out[1:]
	}
	return out
}

var archiveTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (c *fakeChecker) Archive(ctx context.Context, f proxy.VersionFacts) (*proxy.Archive, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.archFacts = append(c.archFacts, f)
	v := c.verdict(f.Version)
	if v.Blocked() {
		return nil, &proxy.BlockedError{Facts: f, Verdict: v}
	}
	b, ok := c.archives[f.ArchiveURL]
	if !ok {
		return nil, fmt.Errorf("archive %s: %w", f.ArchiveURL, proxy.ErrNotFound)
	}
	r := bytes.NewReader(b)
	return &proxy.Archive{Body: r, Closer: io.NopCloser(r), Size: int64(len(b)), SHA256: sha256.Sum256(b), ModTime: archiveTime, Verdict: v}, nil
}

// rig is one handler under test with its fakes, served on 127.0.0.1.
type rig struct {
	t       testing.TB
	up      *fakeUpstream
	checker *fakeChecker
	pins    *memPins
	h       *Handler
	srv     *httptest.Server
}

type rigOption func(*Config)

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{t: t, up: newFakeUpstream(), checker: newFakeChecker(), pins: newMemPins()}
	r.srv = httptest.NewServer(http.NotFoundHandler()) // 127.0.0.1 only
	t.Cleanup(r.srv.Close)
	u, _ := url.Parse(upstreamBase)
	cfg := Config{
		UpstreamURL:        u,
		Upstream:           r.up,
		Checker:            r.checker,
		PublicURL:          r.srv.URL,
		Keys:               r.pins,
		RegistrySignatures: SignaturesOff,
		Logger:             slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	// The handler itself, without a ServeMux that would clean paths
	// first: its own checks are what is under test.
	r.srv.Config.Handler = h
	return r
}

func withSignatures(m SignatureMode) rigOption {
	return func(c *Config) { c.RegistrySignatures = m }
}

func withMode(m policy.Mode) rigOption {
	return func(c *Config) { c.Mode = m }
}

// get fetches path from the rig's server with optional headers
// ("Name: value").
func (r *rig) get(path string, headers ...string) (*http.Response, []byte) {
	r.t.Helper()
	return r.do(http.MethodGet, path, nil, headers...)
}

func (r *rig) do(method, path string, body io.Reader, headers ...string) (*http.Response, []byte) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp, b
}

// corgiAccept is what pacote sends for an abbreviated packument.
const corgiAccept = "Accept: application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"

// regKey is a registry signing key made for a test.
type regKey struct {
	id   string
	priv *ecdsa.PrivateKey
	pub  string // base64 DER, as the keys document has it
}

func newRegKey(t testing.TB) *regKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return &regKey{id: "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), priv: priv, pub: base64.StdEncoding.EncodeToString(der)}
}

// sign signs name@version:integrity as the registry does.
func (k *regKey) sign(t testing.TB, name, version, integrity string) string {
	t.Helper()
	d := sha256.Sum256([]byte(name + "@" + version + ":" + integrity))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// keysDoc is a /-/npm/v1/keys document; expires "" is null.
func keysDoc(keys []*regKey, expires ...string) string {
	var parts []string
	for i, k := range keys {
		exp := "null"
		if i < len(expires) && expires[i] != "" {
			exp = `"` + expires[i] + `"`
		}
		parts = append(parts, fmt.Sprintf(`{"expires":%s,"keyid":%q,"keytype":"ecdsa-sha2-nistp256","scheme":"ecdsa-sha2-nistp256","key":%q}`, exp, k.id, k.pub))
	}
	return `{"keys":[` + strings.Join(parts, ",") + `]}`
}

// integrityOf returns the SRI of b.
func integrityOf(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// ver describes one version of a test packument.
type ver struct {
	v         string
	deps      string // raw JSON of dependencies, "" for none
	integrity string // raw JSON string content; "" for a made-up one
	sigs      string // raw JSON of dist.signatures, "" for none
	extra     string // raw members to add, ",..." form without the comma
	time      string // publish time, "" for a made-up one
}

// packumentDoc writes a full packument of name with vs, newest last, as a
// registry writes it, with members sigil must keep, rewrite or drop.
func packumentDoc(name string, tags map[string]string, vs ...ver) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"_id":%q,"_rev":"7-abc","name":%q,"description":"a test package",`, name, name)
	var tagParts []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		tagParts = append(tagParts, fmt.Sprintf("%q:%q", k, tags[k]))
	}
	fmt.Fprintf(&b, `"dist-tags":{%s},"versions":{`, strings.Join(tagParts, ","))
	var timeParts []string
	for i, v := range vs {
		if i > 0 {
			b.WriteString(",")
		}
		integ := v.integrity
		if integ == "" {
			integ = integrityOf([]byte(name + v.v))
		}
		fmt.Fprintf(&b, `%q:{"name":%q,"version":%q,"description":"version %s","main":"index.js",`, v.v, name, v.v, v.v)
		if v.deps != "" {
			fmt.Fprintf(&b, `"dependencies":%s,`, v.deps)
		}
		if v.extra != "" {
			b.WriteString(v.extra + ",")
		}
		fmt.Fprintf(&b, `"_npmUser":{"name":"ann"},"dist":{"integrity":"%s","shasum":"%040x","tarball":"%s/%s/-/%s-%s.tgz"`, integ, i, upstreamBase, name, unscoped(name), v.v)
		if v.sigs != "" {
			fmt.Fprintf(&b, `,"signatures":%s`, v.sigs)
		}
		b.WriteString(`}}`)
		t := v.time
		if t == "" {
			t = fmt.Sprintf("2024-01-%02dT00:00:00.000Z", i+1)
		}
		timeParts = append(timeParts, fmt.Sprintf("%q:%q", v.v, t))
	}
	fmt.Fprintf(&b, `},"time":{"created":"2024-01-01T00:00:00.000Z","modified":"2024-02-01T00:00:00.000Z",%s},`, strings.Join(timeParts, ","))
	b.WriteString(`"maintainers":[{"name":"ann"}],"readme":"# hello","stagedVersions":{"versions":{"9.9.9":{"name":"x"}}},"_attachments":{}}`)
	return []byte(b.String())
}

// decode decodes a served document generically.
func decode(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("served invalid JSON: %v\n%s", err, body)
	}
	return m
}

func keysOf(m any) []string {
	mm, _ := m.(map[string]any)
	return slices.Sorted(maps.Keys(mm))
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
