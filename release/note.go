package release

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// MaxNoteSize bounds every signed note and note text this package parses.
// A statement or key event is a few hundred bytes; the bound is checked
// before any parsing so that hostile input costs at most this much work.
const MaxNoteSize = 64 << 10

// maxKeyName bounds key names. Names appear in every signature line, and no
// honest name comes near it.
const maxKeyName = 128

// algEd25519 is the signed-note algorithm byte for Ed25519, the only
// algorithm sigil accepts.
const algEd25519 = 1

// GenerateKey returns a new Ed25519 signer key (PRIVATE+KEY+NAME+HASH+BASE64,
// to be kept secret) and its verifier key line (NAME+HASH+BASE64).
func GenerateKey(rand io.Reader, name string) (signerKey, verifierKey string, err error) {
	if err := validateKeyName(name); err != nil {
		return "", "", err
	}
	skey, vkey, err := note.GenerateKey(rand, name)
	if err != nil {
		return "", "", fmt.Errorf("generating key %q: %w", name, err)
	}
	return skey, vkey, nil
}

// validateKeyName applies signed-note name rules (non-empty, UTF-8, no '+',
// no white space) and also refuses control characters, which would make
// every note signed with the key unopenable.
func validateKeyName(name string) error {
	switch {
	case name == "":
		return errors.New("key name is empty")
	case len(name) > maxKeyName:
		return fmt.Errorf("key name %s is longer than %d bytes", quote(name), maxKeyName)
	case !utf8.ValidString(name):
		return fmt.Errorf("key name %s is not valid UTF-8", quote(name))
	case strings.Contains(name, "+"):
		return fmt.Errorf("key name %s contains '+'", quote(name))
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("key name %s contains white space or a control character", quote(name))
	}
	return nil
}

// NewSigner parses a signer key. Its errors say what is wrong with the key
// but never include key material, so they are safe to print and log.
func NewSigner(skey string) (note.Signer, error) {
	if skey != strings.TrimSpace(skey) {
		return nil, errors.New("signer key has leading or trailing white space (trim the key file's newline)")
	}
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		if _, err := NewVerifier(skey); err == nil {
			return nil, errors.New("this is a verifier (public) key; a signer key starts with PRIVATE+KEY+")
		}
		return nil, errors.New("malformed signer key: want PRIVATE+KEY+NAME+HASH+BASE64")
	}
	name, hash, data := parts[2], parts[3], parts[4]
	if err := validateKeyName(name); err != nil {
		return nil, fmt.Errorf("malformed signer key: %w", err)
	}
	if err := checkKeyData(hash, data); err != nil {
		return nil, fmt.Errorf("malformed signer key %q: %w", name, err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		// The only failure left is a hash that does not match the key.
		return nil, fmt.Errorf("signer key %q: key hash does not match the key (corrupted key file?)", name)
	}
	return s, nil
}

// NewVerifier parses a verifier key line. sigil identifies keys by their
// line, so the line must be canonical: the hash in lowercase hex, exactly
// as GenerateKey writes it.
func NewVerifier(vkey string) (note.Verifier, error) {
	if strings.Contains(vkey, "PRIVATE+KEY") {
		// Never echo: this is a secret in the wrong place.
		return nil, errors.New("this looks like a signer (private) key; pass the verifier (public) key line")
	}
	if vkey != strings.TrimSpace(vkey) {
		return nil, errors.New("verifier key has leading or trailing white space")
	}
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed verifier key %s: want NAME+HASH+BASE64", quote(vkey))
	}
	name, hash, data := parts[0], parts[1], parts[2]
	if err := validateKeyName(name); err != nil {
		return nil, fmt.Errorf("malformed verifier key %s: %w", quote(vkey), err)
	}
	if err := checkKeyData(hash, data); err != nil {
		return nil, fmt.Errorf("malformed verifier key %s: %w", quote(vkey), err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key %s: key hash does not match the key", quote(vkey))
	}
	return v, nil
}

// checkKeyData checks the HASH+BASE64 part shared by signer and verifier
// keys: 8 lowercase hex digits, then the standard base64 of the algorithm
// byte and a 32-byte Ed25519 key (private seed or public key).
func checkKeyData(hash, data string) error {
	if len(hash) != 8 || strings.Trim(hash, "0123456789abcdef") != "" {
		return errors.New("key hash is not 8 lowercase hex digits")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(data)
	if err != nil || base64.StdEncoding.EncodeToString(key) != data {
		return errors.New("key data is not canonical standard base64")
	}
	if len(key) == 0 || key[0] != algEd25519 {
		return errors.New("unsupported key algorithm (only Ed25519 is accepted)")
	}
	if len(key) != 1+32 {
		return fmt.Errorf("Ed25519 key is %d bytes, want 32", len(key)-1)
	}
	return nil
}

// keyID returns the NAME+HASH part of a verifier key line: what signature
// lines name, and what is safe and short to show a user.
func keyID(vkey string) string {
	name, rest, _ := strings.Cut(vkey, "+")
	hash, _, _ := strings.Cut(rest, "+")
	return name + "+" + hash
}

func sigID(name string, hash uint32) string {
	return fmt.Sprintf("%s+%08x", name, hash)
}

// Sign returns text signed by every signer, as a signed note. text must be
// a valid note text: non-empty, UTF-8, no control characters but newlines,
// ending in a newline. Sign refuses to produce a note larger than
// MaxNoteSize, since Open would refuse it.
func Sign(text []byte, signers ...note.Signer) ([]byte, error) {
	if len(signers) == 0 {
		return nil, errors.New("sign: no signer")
	}
	if err := checkNoteText(text); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, signers...)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if len(msg) > MaxNoteSize {
		return nil, fmt.Errorf("sign: signed note is %d bytes, more than the limit of %d", len(msg), MaxNoteSize)
	}
	return msg, nil
}

func checkNoteText(text []byte) error {
	if len(text) == 0 {
		return errors.New("note text is empty")
	}
	if text[len(text)-1] != '\n' {
		return errors.New("note text does not end with a newline")
	}
	return checkNoteBytes(text)
}

// checkNoteBytes applies note.Open's character rule (UTF-8, no control
// characters but '\n'), naming the line that breaks it.
func checkNoteBytes(msg []byte) error {
	line := 1
	for i := 0; i < len(msg); {
		r, size := utf8.DecodeRune(msg[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("line %d: invalid UTF-8", line)
		case r == '\n':
			line++
		case r < 0x20:
			return fmt.Errorf("line %d: control character %q", line, r)
		}
		i += size
	}
	return nil
}

// A noteSig is one signature line of a note, as written; it says which key
// claims to have signed, not that it did.
type noteSig struct {
	name string
	hash uint32
}

// splitNote checks that msg is a well-formed signed note, by the rules of
// note.Open, and returns its text and signature lines. It verifies nothing;
// it exists to explain malformed notes better than note.Open can, and to let
// callers read the text to learn which keys could have signed it.
func splitNote(msg []byte) ([]byte, []noteSig, error) {
	if len(msg) > MaxNoteSize {
		return nil, nil, fmt.Errorf("signed note is %d bytes, more than the limit of %d", len(msg), MaxNoteSize)
	}
	if err := checkNoteBytes(msg); err != nil {
		return nil, nil, fmt.Errorf("malformed note: %w", err)
	}
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return nil, nil, errors.New("malformed note: no signatures (a note is text, a blank line, then signature lines)")
	}
	text, block := msg[:split+1], msg[split+2:]
	if len(block) == 0 || block[len(block)-1] != '\n' {
		return nil, nil, errors.New("malformed note: signature block is empty or lacks a final newline")
	}
	lineNo := bytes.Count(text, []byte("\n")) + 1
	var sigs []noteSig
	for len(block) > 0 {
		lineNo++
		i := bytes.IndexByte(block, '\n')
		line := string(block[:i])
		block = block[i+1:]
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			return nil, nil, fmt.Errorf("malformed note: line %d %s: signature lines start with \"— \"", lineNo, quote(line))
		}
		name, b64, _ := strings.Cut(rest, " ")
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || b64 == "" || len(sig) < 5 || !validNoteName(name) {
			return nil, nil, fmt.Errorf("malformed note: line %d %s: want \"— NAME BASE64\"", lineNo, quote(line))
		}
		if len(sigs) == 100 {
			// note.Open's own limit.
			return nil, nil, errors.New("malformed note: more than 100 signatures")
		}
		sigs = append(sigs, noteSig{name: name, hash: binary.BigEndian.Uint32(sig)})
	}
	return text, sigs, nil
}

// validNoteName is note's own (looser) name rule, which decides what
// note.Open accepts; sigil only issues names that pass validateKeyName.
func validNoteName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// Open verifies a signed note against the known verifiers and returns it,
// with note.Open's semantics: every signature by a known key must verify,
// at least one must exist, and signatures by unknown keys are kept unverified
// in the note's UnverifiedSigs. Errors say whether the note is malformed,
// carries a bad signature (and by which key), or is signed only by keys that
// are not known (and which ones).
func Open(msg []byte, known note.Verifiers) (*note.Note, error) {
	_, sigs, err := splitNote(msg)
	if err != nil {
		return nil, err
	}
	n, err := note.Open(msg, known)
	if err != nil {
		return nil, explainOpen(err, sigs)
	}
	return n, nil
}

func explainOpen(err error, sigs []noteSig) error {
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		ids := make([]string, len(sigs))
		for i, s := range sigs {
			ids[i] = sigID(s.name, s.hash)
		}
		return fmt.Errorf("note is not signed by a known key; it is signed by %s: %w", strings.Join(ids, ", "), err)
	case errors.As(err, &invalid):
		return fmt.Errorf("bad signature by key %s (the note was altered, or another key has the same name and hash): %w",
			sigID(invalid.Name, invalid.Hash), err)
	}
	return fmt.Errorf("malformed note: %w", err)
}

// verifySigs opens msg with cands as the known keys and returns the keys
// whose signatures verify, sorted. Signatures by other keys are ignored
// (they may be cosignatures); a signature that names a candidate but
// verifies under none fails the whole note, as in note.Open. Keys sharing
// a name and hash are all tried, so neither can stand in for the other.
// Each check goes through memo (nil: none).
func verifySigs(msg []byte, cands map[string]note.Verifier, memo *SigMemo) ([]string, error) {
	set := &keySet{byID: map[noteSig][]note.Verifier{}, key: map[note.Verifier]string{}, signed: map[string]bool{}}
	for _, key := range sortedKeys(cands) {
		v := memo.wrap(key, cands[key])
		id := noteSig{v.Name(), v.KeyHash()}
		set.byID[id] = append(set.byID[id], v)
		set.key[v] = key
	}
	_, err := note.Open(msg, set)
	var unverified *note.UnverifiedNoteError
	if err != nil && !errors.As(err, &unverified) {
		return nil, explainOpen(err, nil)
	}
	var out []string
	for key := range set.signed {
		out = append(out, key)
	}
	slices.Sort(out)
	return out, nil
}

// keySet is a note.Verifiers that may hold several keys with one name and
// hash, and records which keys verified a signature.
type keySet struct {
	byID   map[noteSig][]note.Verifier
	key    map[note.Verifier]string
	signed map[string]bool
}

func (s *keySet) Verifier(name string, hash uint32) (note.Verifier, error) {
	vs := s.byID[noteSig{name, hash}]
	if len(vs) == 0 {
		return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
	}
	return &anyOf{name: name, hash: hash, vs: vs, set: s}, nil
}

type anyOf struct {
	name string
	hash uint32
	vs   []note.Verifier
	set  *keySet
}

func (a *anyOf) Name() string    { return a.name }
func (a *anyOf) KeyHash() uint32 { return a.hash }
func (a *anyOf) Verify(msg, sig []byte) bool {
	ok := false
	for _, v := range a.vs {
		if v.Verify(msg, sig) {
			a.set.signed[a.set.key[v]] = true
			ok = true
		}
	}
	return ok
}

// quote returns s quoted for an error message, cut to a readable length:
// messages about hostile input must stay short and printable.
func quote(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + fmt.Sprintf("...(%d bytes)", len(s))
}

// SignedBy returns those of vkeys whose signatures on the signed note msg
// verify, sorted. Signatures by other keys are ignored. It is how a log
// tells whether two notes with one text carry the same signer.
func SignedBy(msg []byte, vkeys []string) ([]string, error) {
	cands := make(map[string]note.Verifier, len(vkeys))
	for _, key := range vkeys {
		v, err := NewVerifier(key)
		if err != nil {
			return nil, err
		}
		cands[key] = v
	}
	return verifySigs(msg, cands, nil)
}
