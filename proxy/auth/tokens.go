// Package auth guards a shared mirror with client tokens.
//
// The operator keeps a token file (--auth-tokens): one token a line, as a
// name and the sha256 of the token, never the token itself, so that a copy
// of the file (a backup, a config repository) lets nobody in:
//
//	# sigil client tokens: NAME sha256:HEX
//	ci-runner sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//
// Clients send a token the way they already send credentials to a
// registry: "Authorization: Bearer TOKEN" (Composer's auth.json "bearer",
// npm's _authToken), or HTTP Basic with the token as the password and any
// user name (Composer's "http-basic"). Through forward mode
// (HTTPS_PROXY), the token goes in the proxy URL's password, which clients
// send as Proxy-Authorization.
//
// # Guarantees
//
//   - A token is compared by its sha256, in constant time, against every
//     entry of the file: how long a check takes says nothing about which
//     entry came close.
//   - The file must not be writable by group or others (Unix): such a
//     file is refused at start, and a change to one is not taken.
//   - The file is read again when it changes (checked at most every few
//     seconds), so that a token added or removed takes effect without a
//     restart. A file that no longer parses is refused, logged, and the
//     tokens read before stay in force: a typo never opens the mirror.
//   - A request without a valid token is answered 401 (407 for proxy
//     requests) before it reaches any front: it fetches nothing, stores
//     nothing and is not a verdict.
//   - The credential is removed from the request before it goes further,
//     so no front can pass it on to an upstream.
package auth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"runtime"
	"strings"

	"github.com/sigilproxy/sigil/internal/atomicfile"
)

// TokenPrefix starts every token sigil makes, so that secret scanners and
// people can tell what a leaked string is.
const TokenPrefix = "sigil_"

// maxFileSize bounds the token file: a line is about 80 bytes, so this is
// room for tens of thousands of tokens.
const maxFileSize = 4 << 20

// nameRE is what a token's name may be: something to tell tokens apart in
// logs, with no spaces or control characters.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// entry is one line of the token file.
type entry struct {
	name string
	hash [32]byte
}

// parseFile reads a token file: blank lines and lines starting with "#"
// are skipped; every other line is NAME sha256:HEX. Names are unique.
func parseFile(data []byte) ([]entry, error) {
	var out []entry
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want NAME sha256:HEX", n)
		}
		name, h := fields[0], fields[1]
		if !nameRE.MatchString(name) {
			return nil, fmt.Errorf("line %d: name %.40q: want letters, digits and ._@+- (at most 64)", n, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("line %d: name %q appears twice", n, name)
		}
		hexSum, ok := strings.CutPrefix(h, "sha256:")
		sum, err := hex.DecodeString(hexSum)
		if !ok || err != nil || len(sum) != sha256.Size {
			if strings.HasPrefix(h, TokenPrefix) {
				return nil, fmt.Errorf("line %d: holds a token, not its hash: the file must never hold tokens", n)
			}
			return nil, fmt.Errorf("line %d: want sha256: and 64 hex digits after the name", n)
		}
		seen[name] = true
		out = append(out, entry{name: name, hash: [32]byte(sum)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// match returns the name of the entry whose hash is the token's. It looks
// at every entry whatever it finds, in constant time per entry.
func match(entries []entry, token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range entries {
		if subtle.ConstantTimeCompare(sum[:], entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return entries[found].name, true
}

// readFile reads and parses the token file at path, which only its owner
// may write: whoever can write it can let themselves in.
func readFile(path string) ([]entry, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	if err := checkMode(path); err != nil {
		return nil, err
	}
	entries, err := parseFile(data)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return entries, nil
}

// checkMode refuses a token file that group or others may write. Windows
// has no such mode bits; its ACLs are the operator's.
func checkMode(path string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("token file %s is writable by group or others (mode %04o), who could add tokens of their own: chmod go-w %s", path, perm, path)
	}
	return nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("token file %s: %d bytes, more than %d", path, fi.Size(), maxFileSize)
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return data, nil
}

// NewToken returns a new random token: TokenPrefix and 32 random bytes in
// base64url, 256 bits that nobody can guess.
func NewToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Line is the token file's line for a token named name.
func Line(name, token string) string {
	sum := sha256.Sum256([]byte(token))
	return name + " sha256:" + hex.EncodeToString(sum[:])
}

var (
	// ErrNameTaken is returned by Add when the file already has a token
	// of that name.
	ErrNameTaken = errors.New("a token of that name is in the file already")
	// ErrBadName is returned by Add for a name a token file cannot hold.
	ErrBadName = errors.New("want letters, digits and ._@+- (at most 64, starting with a letter or digit)")
)

// Add makes a new token named name, appends its hash to the token file at
// path (creating it), and returns the token. The file is replaced
// atomically with mode 0600, so that a reader (a running sigil) sees the
// old or the new file, never half a line. The existing file must parse.
func Add(path, name string) (string, error) {
	if !nameRE.MatchString(name) {
		return "", fmt.Errorf("token name %q: %w", name, ErrBadName)
	}
	old, err := readBounded(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	entries, err := parseFile(old)
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	for _, e := range entries {
		if e.name == name {
			return "", fmt.Errorf("%q in %s: %w", name, path, ErrNameTaken)
		}
	}
	var data []byte
	if len(old) == 0 {
		data = []byte("# sigil client tokens (sigil token add): NAME sha256:HEX\n")
	} else {
		data = append(old, '\n')
		data = data[:len(bytes.TrimRight(data, "\n"))+1]
	}
	token := NewToken()
	data = append(data, Line(name, token)+"\n"...)
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return "", err
	}
	return token, nil
}
