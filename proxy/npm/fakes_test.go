package npm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/fronttest"
)

const upstreamBase = fronttest.UpstreamBase

// fakeChecker is the shared fake with npm's verdicts: an action, failed
// when it blocks.
type fakeChecker struct{ *fronttest.Checker }

func newFakeChecker() fakeChecker { return fakeChecker{fronttest.NewChecker()} }

func (c fakeChecker) set(version string, a policy.Action, reasons ...string) {
	c.Set(version, proxy.VersionVerdict{Verdict: policy.Verdict{Action: a, Reasons: reasons, Failed: a == policy.Block}})
}

// rig is one handler under test with its fakes, served on 127.0.0.1.
type rig struct {
	up               *fronttest.Upstream
	checker          fakeChecker
	pins             *memPins
	h                *Handler
	fronttest.Client // of the server h is served on
}

type rigOption func(*Config)

func newRig(t testing.TB, opts ...rigOption) *rig {
	t.Helper()
	r := &rig{up: fronttest.NewUpstream(), checker: newFakeChecker(), pins: newMemPins()}
	u, _ := url.Parse(upstreamBase)
	r.h, r.Client = fronttest.Serve(t, func(serverURL string) (*Handler, error) {
		cfg := Config{
			UpstreamURL:        u,
			Upstream:           r.up,
			Checker:            r.checker,
			PublicURL:          serverURL,
			Keys:               r.pins,
			RegistrySignatures: SignaturesOff,
			Logger:             fronttest.Logger(t),
		}
		for _, o := range opts {
			o(&cfg)
		}
		// The Checker decides in the rig's mode, as the Verifier would.
		r.checker.Policy = &policy.Config{Mode: cfg.Mode}
		return New(cfg)
	})
	return r
}

func withSignatures(m SignatureMode) rigOption {
	return func(c *Config) { c.RegistrySignatures = m }
}

func withMode(m policy.Mode) rigOption {
	return func(c *Config) { c.Mode = m }
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
