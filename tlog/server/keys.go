package server

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"

	f_note "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
)

// ecosystems are the ecosystems a core key without "ECO=" applies to.
var ecosystems = []string{release.Composer, release.NPM}

// CoreKey is an ecosystem's core key: it may add, retire and revoke keys
// of every namespace of that ecosystem.
type CoreKey struct {
	// Ecosystem is "composer" or "npm"; empty means every ecosystem.
	Ecosystem string
	// Key is the verifier key line, NAME+HASH+BASE64.
	Key string
}

// ParseCoreKey parses the --core-key syntax, [ECO=]VKEY.
func ParseCoreKey(s string) (CoreKey, error) {
	s = strings.TrimSpace(s)
	var ck CoreKey
	// A verifier key always contains '+'; an ecosystem never does.
	if eco, vkey, ok := strings.Cut(s, "="); ok && !strings.Contains(eco, "+") {
		ck.Ecosystem, s = eco, vkey
		if !isEcosystem(eco) {
			return CoreKey{}, fmt.Errorf("core key: unknown ecosystem %q (want %s)", eco, strings.Join(ecosystems, " or "))
		}
	}
	if _, err := release.NewVerifier(s); err != nil {
		return CoreKey{}, fmt.Errorf("core key: %w", err)
	}
	ck.Key = s
	return ck, nil
}

func isEcosystem(eco string) bool {
	for _, e := range ecosystems {
		if e == eco {
			return true
		}
	}
	return false
}

// Witness is a C2SP tlog-witness the log asks to cosign its checkpoints.
type Witness struct {
	// Key is the witness's verifier key: a cosignature/v1 key (type 0x04)
	// or a plain Ed25519 key (type 0x01), which is read as cosignature/v1.
	Key string
	// URL is the witness's submission prefix; the log posts to
	// URL + "/add-checkpoint".
	URL string
}

// ParseWitness parses the --witness syntax, VKEY=URL. The URL must be
// http or https; the split is at the first "=http://" or "=https://",
// which a verifier key cannot contain.
func ParseWitness(s string) (Witness, error) {
	s = strings.TrimSpace(s)
	i := strings.Index(s, "=http://")
	if j := strings.Index(s, "=https://"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		return Witness{}, fmt.Errorf("witness %q: want VKEY=URL with an http or https URL", s)
	}
	w := Witness{Key: s[:i], URL: s[i+1:]}
	if err := w.check(); err != nil {
		return Witness{}, err
	}
	return w, nil
}

func (w Witness) check() error {
	if _, err := f_note.NewVerifierForCosignatureV1(w.Key); err != nil {
		return fmt.Errorf("witness key %q: %w", w.Key, err)
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("witness URL %q: want an absolute http or https URL", w.URL)
	}
	return nil
}

// logSigner returns the checkpoint signer for skey under the given origin,
// and its verifier key. Tessera signs checkpoints with the signer's name as
// origin line; when origin differs from the key's own name, the same
// Ed25519 key is used under the name origin, so the log's verifier key is
// origin+HASH+KEY (HASH recomputed for the new name). Clients must then be
// given that verifier key, which Server.VerifierKey returns.
func logSigner(skey, origin string) (note.Signer, string, error) {
	s, err := release.NewSigner(skey)
	if err != nil {
		return nil, "", err
	}
	if origin == "" {
		origin = s.Name()
	}
	parts := strings.SplitN(skey, "+", 5)
	data, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(data) != 1+ed25519.SeedSize || data[0] != 1 {
		return nil, "", errors.New("log key: not an Ed25519 signer key")
	}
	pub := append([]byte{1}, ed25519.NewKeyFromSeed(data[1:]).Public().(ed25519.PublicKey)...)
	hash := keyHash(origin, pub)
	vkey := fmt.Sprintf("%s+%08x+%s", origin, hash, base64.StdEncoding.EncodeToString(pub))
	if origin == s.Name() {
		return s, vkey, nil
	}
	renamed := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", origin, hash, parts[4])
	rs, err := note.NewSigner(renamed)
	if err != nil {
		return nil, "", fmt.Errorf("origin %q cannot be a key name: %w", origin, err)
	}
	if _, err := release.NewVerifier(vkey); err != nil {
		return nil, "", fmt.Errorf("origin %q: %w", origin, err)
	}
	return rs, vkey, nil
}

// keyHash is the signed-note key hash: the first four bytes of
// SHA-256(name || "\n" || key).
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}
