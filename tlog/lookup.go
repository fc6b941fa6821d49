package tlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/transparency-dev/merkle/proof"

	"github.com/sigilproxy/sigil/release"
)

// maxProofHashes bounds an inclusion proof: a tree of 2^64 leaves needs 64.
const maxProofHashes = 64

// Lookup is the verified answer of the log about one package.
type Lookup struct {
	Ecosystem string
	Package   string
	// Checkpoint is the verified checkpoint every entry is proven against.
	// It is the stored checkpoint or a proven prefix of it.
	Checkpoint *Checkpoint
	// Entries are the logged statements and key events, in ascending index
	// order, each proven to be in the tree of Checkpoint. They are not yet
	// interpreted: see Evaluate.
	Entries []Entry

	memo *release.SigMemo // the client's; nil for a Lookup made by hand

	// Observations are the log's own observations of the package's
	// versions, by version: proven to be in the tree of Checkpoint, signed
	// by the log key, and not backdated (see the package doc). The first
	// observation of a version is the one that counts.
	Observations map[string]*Observation
}

// Observation is one verified observation of a version (see
// release.Observation) and where the log holds it.
type Observation struct {
	Index uint64
	Note  []byte
	*release.Observation
}

// Entry is one logged note whose inclusion in the log was proven.
type Entry struct {
	Index uint64
	Note  []byte
}

// Lookup asks the log for every statement of package pkg of ecosystem eco
// and every key event of its namespaces, and returns them once the
// checkpoint and each entry's inclusion are proven (see the package doc).
// A log that proves misbehaviour gets a *SecurityError, and after that
// every call fails with ErrSecurity.
func (c *Client) Lookup(ctx context.Context, eco, pkg string) (*Lookup, error) {
	return c.LookupVersions(ctx, eco, pkg, nil)
}

// LookupVersions is Lookup, and asks a log that observes the package's
// registry to observe each of versions first (at most
// MaxLookupVersions), so that the answer includes their observations.
func (c *Client) LookupVersions(ctx context.Context, eco, pkg string, versions []string) (*Lookup, error) {
	if err := c.checkNotHalted(ctx); err != nil {
		return nil, err
	}
	u, err := c.lookupURL(eco, pkg)
	if err != nil {
		return nil, err
	}
	if len(versions) > 0 {
		q := url.Values{"version": versions}
		u += "?" + q.Encode()
	}
	// The stored checkpoint before this lookup moves it: an observation
	// it does not contain must not be dated before its cosignatures.
	before, err := c.store.Checkpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("lookup %s %s: reading the stored checkpoint: %w", eco, pkg, err)
	}
	body, err := c.get(ctx, u, c.maxLookup)
	if err != nil {
		return nil, fmt.Errorf("lookup %s %s: %w", eco, pkg, err)
	}
	resp, err := ParseLookupResponse(body)
	if err != nil {
		return nil, fmt.Errorf("lookup %s %s: response from %s: %w", eco, pkg, u, err)
	}
	cp, err := c.policy.verify([]byte(resp.Checkpoint), c.now())
	if err != nil {
		return nil, fmt.Errorf("lookup %s %s: %w", eco, pkg, err)
	}
	if err := c.accept(ctx, cp, u); err != nil {
		return nil, fmt.Errorf("lookup %s %s: %w", eco, pkg, err)
	}
	entries, err := verifyEntries(cp, resp.Entries)
	if err != nil {
		return nil, fmt.Errorf("lookup %s %s from %s: %w", eco, pkg, u, err)
	}
	lk := &Lookup{Ecosystem: eco, Package: pkg, Checkpoint: cp, memo: c.sigs}
	if err := c.splitObservations(ctx, lk, entries, before, u); err != nil {
		return nil, fmt.Errorf("lookup %s %s: %w", eco, pkg, err)
	}
	return lk, nil
}

// verifyEntries checks each entry's inclusion proof against cp. It is pure.
func verifyEntries(cp *Checkpoint, in []LookupEntry) ([]Entry, error) {
	out := make([]Entry, 0, len(in))
	for _, e := range in {
		if e.Index >= cp.Size {
			return nil, fmt.Errorf("entry %d: beyond the checkpoint's size %d", e.Index, cp.Size)
		}
		leaf := hasher.HashLeaf([]byte(e.Note))
		if err := proof.VerifyInclusion(hasher, e.Index, cp.Size, leaf, e.Proof, cp.Hash[:]); err != nil {
			return nil, fmt.Errorf("entry %d: inclusion proof does not verify against %s: %s (leaf hash %s)",
				e.Index, cp, oneLine(err), b64(leaf))
		}
		out = append(out, Entry{Index: e.Index, Note: []byte(e.Note)})
	}
	return out, nil
}

// ParseLookupResponse decodes a lookup response body and checks its shape:
// a checkpoint, entries in strictly ascending index order, non-empty notes,
// proofs of at most 64 hashes of 32 bytes. It verifies nothing
// cryptographically.
func ParseLookupResponse(body []byte) (*LookupResponse, error) {
	var r LookupResponse
	// Unmarshal, not a Decoder: the body is already in memory, and
	// Unmarshal refuses trailing data itself.
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	if r.Checkpoint == "" {
		return nil, errors.New("no checkpoint")
	}
	for i, e := range r.Entries {
		if i > 0 && e.Index <= r.Entries[i-1].Index {
			return nil, fmt.Errorf("entry %d follows entry %d: entries must be in strictly ascending index order", e.Index, r.Entries[i-1].Index)
		}
		if e.Note == "" {
			return nil, fmt.Errorf("entry %d: empty note", e.Index)
		}
		if len(e.Proof) > maxProofHashes {
			return nil, fmt.Errorf("entry %d: inclusion proof of %d hashes, more than %d", e.Index, len(e.Proof), maxProofHashes)
		}
		for j, h := range e.Proof {
			if len(h) != 32 {
				return nil, fmt.Errorf("entry %d: proof hash %d is %d bytes, want 32", e.Index, j, len(h))
			}
		}
	}
	return &r, nil
}

// lookupURL builds URL/lookup/{eco}/{pkg}, keeping the slash of a scoped or
// vendored name and escaping everything else, so that a name cannot steer
// the request elsewhere on the log's host.
func (c *Client) lookupURL(eco, pkg string) (string, error) {
	segs := append([]string{eco}, strings.Split(pkg, "/")...)
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("lookup %q %q: not an ecosystem and package name", eco, pkg)
		}
	}
	if len(segs) > 3 {
		return "", fmt.Errorf("lookup %q %q: a package name has at most one slash", eco, pkg)
	}
	esc := make([]string, len(segs))
	for i, s := range segs {
		esc[i] = url.PathEscape(s)
	}
	ref := &url.URL{Path: strings.TrimPrefix(LookupPath, "/") + strings.Join(segs, "/"),
		RawPath: strings.TrimPrefix(LookupPath, "/") + strings.Join(esc, "/")}
	return c.base.ResolveReference(ref).String(), nil
}

// get fetches u and reads at most limit bytes of a 200 answer.
func (c *Client) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %q", u, resp.Status, bytes.TrimSpace(msg))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: response larger than %d bytes", u, limit)
	}
	return body, nil
}
