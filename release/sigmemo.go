package release

import (
	"crypto/sha256"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/mod/sumdb/note"
)

// A SigMemo remembers the outcome of signature checks, so that a note seen
// again (every lookup of a package returns all its logged statements) costs
// a SHA-256 of the note instead of an Ed25519 verification. It is safe for
// concurrent use and holds at most the number of outcomes it was made for,
// dropping the least recently used.
//
// An outcome is remembered under the SHA-256 of the verifier key line, the
// signed text and the signature bytes: the exact inputs of the check, so a
// remembered answer is the answer the check would give again. Whether a
// key may sign at a point of the log is never remembered; the Keyring
// decides that afresh on every replay.
type SigMemo struct {
	c *lru.Cache[[sha256.Size]byte, bool]
}

// NewSigMemo returns a memo of at most n outcomes (n ≥ 1). Each costs
// about a hundred bytes.
func NewSigMemo(n int) *SigMemo {
	c, err := lru.New[[sha256.Size]byte, bool](max(n, 1))
	if err != nil {
		panic(err) // only for a size below 1, excluded above
	}
	return &SigMemo{c: c}
}

// wrap returns v, checking through m; a nil memo returns v itself.
func (m *SigMemo) wrap(vkey string, v note.Verifier) note.Verifier {
	if m == nil {
		return v
	}
	return &memoVerifier{Verifier: v, vkey: vkey, memo: m}
}

// memoVerifier is a note.Verifier whose Verify consults the memo first.
type memoVerifier struct {
	note.Verifier
	vkey string
	memo *SigMemo
}

func (v *memoVerifier) Verify(msg, sig []byte) bool {
	h := sha256.New()
	h.Write([]byte(v.vkey))
	// A key line holds no newline and a note text no NUL, so the three
	// parts cannot be shifted into one another.
	h.Write([]byte{'\n'})
	h.Write(msg)
	h.Write([]byte{0})
	h.Write(sig)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	if ok, hit := v.memo.c.Get(k); hit {
		return ok
	}
	ok := v.Verifier.Verify(msg, sig)
	v.memo.c.Add(k, ok)
	return ok
}
