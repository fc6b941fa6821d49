package tlog

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// maxCheckpointBytes bounds a checkpoint note. A checkpoint is three lines
// and a signature per witness; note.Open allows at most 100 signatures.
const maxCheckpointBytes = 64 << 10

// Checkpoint is a checkpoint of the log whose signatures were verified.
type Checkpoint struct {
	// Origin, Size and Hash are the checkpoint body: the log's identity, the
	// number of entries and the RFC 6962 root hash of those entries.
	Origin string
	Size   uint64
	Hash   [32]byte
	// Note is the signed note exactly as the log served it, with every
	// signature, the unknown ones included: it is the evidence.
	Note []byte
	// Cosignatures are the configured witnesses' valid cosignatures.
	Cosignatures []Cosignature
}

// Cosignature is one valid witness cosignature of a checkpoint.
type Cosignature struct {
	// Witness is the witness key's name and hash, NAME+HASH.
	Witness string
	// Time is when the witness cosigned, as it signed it.
	Time time.Time
}

// String names the checkpoint in one line, for messages.
func (c *Checkpoint) String() string {
	return fmt.Sprintf("checkpoint %q size %d root %s", c.Origin, c.Size, b64(c.Hash[:]))
}

// CheckpointError is a refused checkpoint. Note is the checkpoint as
// received, for the evidence; Err says what is wrong with it.
type CheckpointError struct {
	Note []byte
	Err  error
}

func (e *CheckpointError) Error() string {
	// The first three lines name the checkpoint even when it is refused,
	// and are bounded by the size limit of a checkpoint.
	head := e.Note
	if lines := bytes.SplitN(head, []byte("\n"), 4); len(lines) == 4 {
		head = bytes.Join(lines[:3], []byte(" "))
	}
	if len(head) > 200 {
		head = append(head[:200:200], "..."...)
	}
	return fmt.Sprintf("checkpoint refused: %v (checkpoint: %q)", e.Err, head)
}

func (e *CheckpointError) Unwrap() error { return e.Err }

// verify checks raw against the whole policy: log signature, origin,
// witness cosignatures and their age at time now.
func (p *checkpointPolicy) verify(raw []byte, now time.Time) (*Checkpoint, error) {
	cp, n, err := p.open(raw)
	if err != nil {
		return nil, &CheckpointError{Note: raw, Err: err}
	}
	if err := p.checkWitnesses(cp, n, now); err != nil {
		return nil, &CheckpointError{Note: raw, Err: err}
	}
	return cp, nil
}

// open checks the log's signature and the origin, and parses the body. It
// is all that is checked of the stored checkpoint: its cosignatures were
// checked when it was stored and have aged since.
func (p *checkpointPolicy) open(raw []byte) (*Checkpoint, *note.Note, error) {
	if len(raw) > maxCheckpointBytes {
		return nil, nil, fmt.Errorf("checkpoint is %d bytes, more than %d", len(raw), maxCheckpointBytes)
	}
	n, err := note.Open(raw, note.VerifierList(p.log))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return nil, nil, fmt.Errorf("not signed by the log key %s (signed by: %s)", keyID(p.log), signers(unverified.Note.UnverifiedSigs))
		}
		return nil, nil, fmt.Errorf("log signature: %w", err)
	}
	var body flog.Checkpoint
	if _, err := body.Unmarshal([]byte(n.Text)); err != nil {
		return nil, nil, err
	}
	if body.Origin != p.origin {
		return nil, nil, fmt.Errorf("origin is %q, want %q", body.Origin, p.origin)
	}
	if len(body.Hash) != 32 {
		return nil, nil, fmt.Errorf("root hash is %d bytes, want 32", len(body.Hash))
	}
	cp := &Checkpoint{Origin: body.Origin, Size: body.Size, Note: raw}
	copy(cp.Hash[:], body.Hash)
	return cp, n, nil
}

// checkWitnesses counts the valid cosignatures of distinct configured
// witnesses among the signatures note.Open could not verify with the log
// key, and requires p.threshold fresh ones. A cosignature that does not
// verify is not counted but does not refuse the checkpoint either: anyone
// on the path can append signature lines, and what matters is whether
// enough good ones are there.
func (p *checkpointPolicy) checkWitnesses(cp *Checkpoint, n *note.Note, now time.Time) error {
	if len(p.witnesses) == 0 {
		return nil
	}
	var stale, invalid []string
	for _, w := range p.witnesses {
		// A witness counts once, with its newest valid cosignature.
		var newest time.Time
		found, bad := false, false
		for _, s := range n.UnverifiedSigs {
			if s.Name != w.Name() || s.Hash != w.KeyHash() {
				continue
			}
			t, ok := verifyCosignature(w, n.Text, s)
			switch {
			case !ok:
				bad = true
			case !found || t.After(newest):
				newest, found = t, true
			}
		}
		age := now.Sub(newest)
		switch {
		case found && (p.maxAge <= 0 || age <= p.maxAge):
			cp.Cosignatures = append(cp.Cosignatures, Cosignature{Witness: keyID(w), Time: newest})
		case found:
			stale = append(stale, fmt.Sprintf("%s cosigned %s ago (at %s)", keyID(w), age.Truncate(time.Second), newest.UTC().Format(time.RFC3339)))
		case bad:
			invalid = append(invalid, keyID(w))
		}
	}
	if len(cp.Cosignatures) >= p.threshold {
		return nil
	}
	have := make([]string, len(cp.Cosignatures))
	for i, c := range cp.Cosignatures {
		have[i] = c.Witness
	}
	var missing []string
	for _, w := range p.witnesses {
		if !slices.Contains(have, keyID(w)) {
			missing = append(missing, keyID(w))
		}
	}
	msg := fmt.Sprintf("%d of the required %d witness cosignatures (valid: %s; lacking: %s)",
		len(have), p.threshold, list(have), list(missing))
	if len(invalid) > 0 {
		msg += fmt.Sprintf("; invalid cosignatures from %s", list(invalid))
	}
	if len(stale) > 0 && len(have)+len(stale) >= p.threshold {
		return fmt.Errorf("stale checkpoint: %s, older than the %s allowed; %s", strings.Join(stale, ", "), p.maxAge, msg)
	}
	if len(stale) > 0 {
		msg += fmt.Sprintf("; stale: %s", strings.Join(stale, ", "))
	}
	return errors.New(msg)
}

// verifyCosignature verifies one cosignature/v1 signature line and returns
// the time the witness put into it (C2SP tlog-cosignature: the signature
// is an 8-byte big-endian timestamp followed by the Ed25519 signature, and
// the timestamp is part of what is signed).
func verifyCosignature(w note.Verifier, text string, s note.Signature) (time.Time, bool) {
	sig, err := base64.StdEncoding.DecodeString(s.Base64)
	if err != nil || len(sig) < 4+8 {
		return time.Time{}, false
	}
	sig = sig[4:] // key hash, matched by the caller
	if !w.Verify([]byte(text), sig) {
		return time.Time{}, false
	}
	ts := binary.BigEndian.Uint64(sig)
	if ts > 1<<62 {
		return time.Time{}, false // not a time anyone signs; keeps time.Unix sane
	}
	return time.Unix(int64(ts), 0), true
}

func signers(sigs []note.Signature) string {
	var s []string
	for _, sig := range sigs {
		s = append(s, fmt.Sprintf("%s+%08x", sig.Name, sig.Hash))
	}
	return list(s)
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
