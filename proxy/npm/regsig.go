package npm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/sigilproxy/sigil/proxy"
	"github.com/sigilproxy/sigil/proxy/internal/front"
	"github.com/sigilproxy/sigil/proxy/internal/rawjson"
)

// The registry's own signatures. npm's registry signs every version it
// serves: dist.signatures is a list of {keyid, sig}, sig the base64 of an
// ASN.1 ECDSA P-256 signature over SHA-256 of
//
//	<name>@<version>:<dist.integrity>
//
// with the keys its /-/npm/v1/keys document lists ({keys: [{keyid, key,
// keytype, scheme, expires}]}, key the base64 of a DER public key). A key
// with an "expires" time signs only what was published before it: npm
// compares it with the version's publish time from the packument's "time",
// and takes 2015-01-01 for a version without one (pacote lib/registry.js;
// the abbreviated packument has no "time", so npm fetches the full one to
// verify). sigil checks the same way, with the keys it pinned.
//
// These signatures say that the registry published exactly these bytes;
// they say nothing about who wrote them, which is what the release log is
// for. They catch a mirror, a CDN or a network between sigil and the
// registry that alters metadata, and a key the registry does not
// acknowledge.

// SignatureMode says what sigil does with the registry's signatures.
type SignatureMode string

const (
	// SignaturesOff ignores them.
	SignaturesOff SignatureMode = "off"
	// SignaturesWarn serves a version without a valid registry signature
	// with a warning (the default).
	SignaturesWarn SignatureMode = "warn"
	// SignaturesRequire blocks a version without a valid registry
	// signature, or while the registry's keys differ from the pinned
	// ones; in warn mode it is served with a warning.
	SignaturesRequire SignatureMode = "require"
)

// UnmarshalText accepts off, warn or require, for flags and config files.
func (m *SignatureMode) UnmarshalText(b []byte) error {
	switch s := SignatureMode(b); s {
	case SignaturesOff, SignaturesWarn, SignaturesRequire:
		*m = s
		return nil
	}
	return fmt.Errorf("registry signatures %q: want off, warn or require", b)
}

// KeyPins keeps the registry signing keys sigil has seen (trust on first
// use). *cache.Store implements it.
type KeyPins interface {
	// PinNPMKeys pins each of keys (key ID → key, as the registry
	// publishes them) whose key ID is not yet pinned for registry, and
	// returns every key pinned for registry. A pinned key is never
	// replaced or removed. keys may be empty, to read the pins. New pins
	// are durable when it returns. Safe for concurrent use.
	PinNPMKeys(ctx context.Context, registry string, keys map[string]string) (map[string]string, error)
}

const (
	// keysTTL is how long one reading of the keys document is used.
	// The document changes once in years; a key change is reported
	// within this time.
	keysTTL = 10 * time.Minute
	// keysRetry is how soon a failed reading is retried.
	keysRetry = 30 * time.Second
	// verifiedEntries bounds the memo of verified signatures (about 40
	// bytes each): enough for the versions of every package of a large
	// install, so that a packument served again costs no ECDSA.
	verifiedEntries = 1 << 16
)

// missingTimeCutoff is the publish time npm assumes for a version whose
// packument has none (pacote MISSING_TIME_CUTOFF).
var missingTimeCutoff = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

// registryKey is a pinned key sigil verifies with.
type registryKey struct {
	id      string
	key     string // as pinned
	pub     *ecdsa.PublicKey
	expires time.Time // zero: none
}

// keyState is one reading of the registry's keys against the pins.
type keyState struct {
	keys map[string]*registryKey // pinned keys sigil can verify with
	// changed says, as a sentence, how the published keys differ from the
	// pinned ones: a pinned key no longer published, or published with
	// other key material. Empty when they agree.
	changed string
	// none is true when the registry publishes no keys (its keys document
	// is not found) and none were ever pinned: it does not sign.
	none bool
	// err is why no key at all is available.
	err error
}

// keyring reads the registry's keys, pins them and verifies signatures.
type keyring struct {
	upstream proxy.Upstream
	url      string // of the keys document
	registry string // the pins' name for the registry: its base URL
	pins     KeyPins
	log      *slog.Logger
	now      func() time.Time

	mu    sync.Mutex
	state *keyState
	until time.Time // when state is read again
	group singleflight.Group

	verified *lru.Cache[[32]byte, bool]
}

func newKeyring(up proxy.Upstream, base string, pins KeyPins, log *slog.Logger) *keyring {
	k := &keyring{upstream: up, url: base + "/-/npm/v1/keys", registry: base, pins: pins, log: log, now: time.Now}
	k.verified, _ = lru.New[[32]byte, bool](verifiedEntries)
	return k
}

// current returns the key state, reading the keys again when the last
// reading is old. Concurrent callers share one reading.
func (k *keyring) current(ctx context.Context) *keyState {
	k.mu.Lock()
	st, fresh := k.state, k.now().Before(k.until)
	k.mu.Unlock()
	if st != nil && fresh {
		return st
	}
	ch := k.group.DoChan("keys", func() (any, error) {
		st := k.load(context.WithoutCancel(ctx))
		k.mu.Lock()
		if sameKeys(k.state, st) {
			// The same keys as before: the same state, so that what was
			// decided with it (a kept packument) stays current.
			st = k.state
		}
		k.state = st
		k.until = k.now().Add(keysTTL)
		if st.err != nil {
			k.until = k.now().Add(keysRetry)
		}
		k.mu.Unlock()
		return st, nil
	})
	select {
	case r := <-ch:
		return r.Val.(*keyState)
	case <-ctx.Done():
		if st != nil {
			return st
		}
		return &keyState{err: ctx.Err()}
	}
}

// sameKeys reports whether a and b, two readings that did not fail, have
// the same keys and say the same about them, so that every signature
// check gives the same answer with either.
func sameKeys(a, b *keyState) bool {
	if a == nil || b == nil || a.err != nil || b.err != nil || a.changed != b.changed || a.none != b.none || len(a.keys) != len(b.keys) {
		return false
	}
	for id, k := range a.keys {
		o := b.keys[id]
		if o == nil || o.key != k.key || !o.expires.Equal(k.expires) {
			return false
		}
	}
	return true
}

// publishedKey is one key of the registry's keys document.
type publishedKey struct {
	key     string // base64 DER, as published: what is pinned
	expires time.Time
}

// load reads the keys document, pins what is new and compares.
func (k *keyring) load(ctx context.Context) *keyState {
	var published map[string]publishedKey // nil: not known
	doc, err := k.upstream.Document(ctx, k.url)
	switch {
	case errors.Is(err, proxy.ErrNotFound):
		published = map[string]publishedKey{}
	case err != nil:
		k.log.Warn("npm: the registry's signing keys could not be fetched; using the pinned keys", "url", proxy.RedactURL(k.url), "err", err)
	default:
		if published, err = parseKeys(doc.Body); err != nil {
			k.log.Error("npm: the registry's signing keys document is malformed; using the pinned keys", "url", proxy.RedactURL(k.url), "err", err)
			err = &proxy.UpstreamError{URL: k.url, Err: err}
		}
	}
	offer := make(map[string]string, len(published))
	for id, p := range published {
		offer[id] = p.key
	}
	pinned, perr := k.pins.PinNPMKeys(ctx, k.registry, offer)
	if perr != nil {
		k.log.Error("npm: pinning the registry's signing keys failed", "registry", k.registry, "err", perr)
		return &keyState{err: fmt.Errorf("the pinned registry keys cannot be read: %w", perr)}
	}
	st := &keyState{keys: make(map[string]*registryKey, len(pinned))}
	var before map[string]*registryKey
	if published == nil {
		// The document could not be read (an upstream that fails or
		// answers garbage): the expiries it gave before still hold, or
		// a key that expired would verify again.
		k.mu.Lock()
		if k.state != nil {
			before = k.state.keys
		}
		k.mu.Unlock()
	}
	var changes []string
	for _, id := range slices.Sorted(maps.Keys(pinned)) {
		pub, kerr := parseKey(pinned[id])
		if kerr != nil {
			// Never pinned by this code (parseKeys refuses it): a
			// corrupt record, or one from another version.
			k.log.Error("npm: a pinned registry key cannot be used", "keyid", id, "err", kerr)
			continue
		}
		rk := &registryKey{id: id, key: pinned[id], pub: pub}
		if b := before[id]; b != nil && b.key == rk.key {
			rk.expires = b.expires
		}
		if published != nil {
			switch p, ok := published[id]; {
			case !ok:
				changes = append(changes, fmt.Sprintf("key %s, pinned on first use, is no longer published", id))
			case p.key != pinned[id]:
				changes = append(changes, fmt.Sprintf("key %s is published with other key material than sigil pinned on first use", id))
			default:
				rk.expires = p.expires
			}
		}
		st.keys[id] = rk
	}
	if len(changes) > 0 {
		st.changed = "the registry's signing keys differ from those sigil pinned on first use: " + strings.Join(changes, "; ") +
			" (if the registry rotated its keys: check the change, stop sigil and run 'sigil cache reset-registry-keys' with its --cache-dir)"
		k.log.Error("npm: SECURITY: registry signing keys changed", "registry", k.registry, "changes", strings.Join(changes, "; "))
	}
	if len(st.keys) == 0 {
		switch {
		case published != nil && len(published) == 0:
			st.none = true
		case err != nil:
			st.err = err
		default:
			st.err = errors.New("the registry publishes no usable signing key")
		}
	}
	return st
}

// parseKeys reads a keys document. Keys of types sigil cannot verify are
// left out (and so count as unknown); a document sigil cannot read at all
// is an error.
func parseKeys(body []byte) (map[string]publishedKey, error) {
	if err := rawjson.Validate(body); err != nil {
		return nil, err
	}
	top, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	raw, ok := top.get("keys")
	if !ok {
		return nil, errors.New("no keys member")
	}
	out := map[string]publishedKey{}
	err = rawjson.Elements(raw, func(e []byte) error {
		o, err := parseObject(e)
		if err != nil {
			return err
		}
		id, _ := o.str("keyid")
		key, _ := o.str("key")
		if id == "" || key == "" || len(id) > 1024 || len(key) > 1024 {
			return errors.New("a key without a keyid and key")
		}
		if kt, _ := o.str("keytype"); kt != "ecdsa-sha2-nistp256" {
			return nil
		}
		if _, err := parseKey(key); err != nil {
			return fmt.Errorf("key %s: %w", front.QuoteForLog(id), err)
		}
		p := publishedKey{key: key}
		if raw, ok := o.get("expires"); ok && rawjson.Kind(raw) != 'n' {
			s, _ := rawjson.String(raw)
			if p.expires, err = time.Parse(time.RFC3339Nano, s); err != nil {
				// npm's Date.parse gives NaN, and no publish time is
				// before NaN: the key verifies nothing.
				p.expires = time.Unix(0, 0)
			}
		}
		out[id] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) > 16 {
		return nil, fmt.Errorf("%d keys; a registry publishes a few", len(out))
	}
	return out, nil
}

// parseKey reads a base64 DER P-256 public key.
func parseKey(s string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return pub, nil
}

// check returns the problems of one version's registry signatures, each a
// reason sentence; none when a pinned key that was valid at publish time
// signed it and every signature verifies (npm refuses a version when any
// of its signatures fails, and so does sigil). published is the
// packument's "time" entry of the version, "" when it has none.
func (k *keyring) check(st *keyState, pkg string, v *versionFacts, published string, require bool) []string {
	id := pkg + "@" + v.facts.Version + ": "
	if st.err != nil {
		return []string{id + "the registry's signature cannot be checked: " + st.err.Error()}
	}
	var out []string
	if st.changed != "" {
		out = append(out, id+st.changed)
	}
	switch {
	case v.sigProblem != "":
		return append(out, id+v.sigProblem)
	case len(v.signatures) == 0 && st.none:
		if require {
			out = append(out, id+"the version has no registry signature, and the registry publishes no signing keys")
		}
		return out
	case len(v.signatures) == 0:
		return append(out, id+"the version has no registry signature")
	case v.sigIntegrity == "":
		return append(out, id+"the version has no dist.integrity for the registry signature to cover")
	}
	when := missingTimeCutoff
	if published != "" {
		t, err := time.Parse(time.RFC3339Nano, published)
		if err != nil {
			t = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) // npm: NaN, after every expiry
		}
		when = t
	}
	msg := []byte(pkg + "@" + v.facts.Version + ":" + v.sigIntegrity)
	for _, s := range v.signatures {
		key := st.keys[s.keyID]
		switch {
		case key == nil:
			out = append(out, id+fmt.Sprintf("the registry signature is by key %s, which the registry does not publish", front.QuoteForLog(s.keyID)))
		case !key.expires.IsZero() && !when.Before(key.expires):
			out = append(out, id+fmt.Sprintf("the registry signature is by key %s, which expired at %s, before the version was published (%s)",
				key.id, key.expires.UTC().Format(time.RFC3339), publishedText(published)))
		case !k.verify(key, msg, s.sig):
			out = append(out, id+fmt.Sprintf("the registry signature by key %s does not verify: the metadata is not what the registry signed", key.id))
		}
	}
	return out
}

func publishedText(s string) string {
	if s == "" {
		return "no publish time; npm assumes 2015-01-01"
	}
	return front.QuoteForLog(s)
}

// verify checks one signature, remembering the answer: the same packument
// is served again and again, and an ECDSA verification costs more than
// parsing a version.
func (k *keyring) verify(key *registryKey, msg, sig []byte) bool {
	h := sha256.New()
	h.Write([]byte(key.id))
	h.Write([]byte{0})
	h.Write([]byte(key.key))
	h.Write([]byte{0})
	h.Write(msg)
	h.Write([]byte{0})
	h.Write(sig)
	var memo [32]byte
	h.Sum(memo[:0])
	if ok, found := k.verified.Get(memo); found {
		return ok
	}
	digest := sha256.Sum256(msg)
	ok := ecdsa.VerifyASN1(key.pub, digest[:], sig)
	k.verified.Add(memo, ok)
	return ok
}
