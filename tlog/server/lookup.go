package server

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"

	f_log "github.com/transparency-dev/formats/log"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// Lookup returns the latest published checkpoint and every entry of the
// package: its release statements, its observations and the key events of
// every namespace that governs it, each with an inclusion proof in that
// checkpoint's tree. Entries added after that checkpoint are not included.
// A package with no entries gets the checkpoint and an empty list.
//
// When the log observes the package's ecosystem, each of versions that the
// registry lists and the log has not observed is observed first (see
// Config.Observer), so that the answer includes its observation.
func (s *Server) Lookup(ctx context.Context, eco, pkg string, versions ...string) (*tlog.LookupResponse, error) {
	if err := release.ValidatePackage(eco, pkg); err != nil {
		return nil, refuse(http.StatusBadRequest, "%v", err)
	}
	if err := s.observe(ctx, eco, pkg, versions); err != nil {
		return nil, err
	}
	cpRaw, err := s.reader.ReadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint: %w", err)
	}
	// Our own file, but check it anyway: the proofs are built for the
	// size it states, and a corrupt checkpoint must not be served as a
	// proof anchor.
	cp, _, _, err := f_log.ParseCheckpoint(cpRaw, s.origin, s.v)
	if err != nil {
		return nil, fmt.Errorf("published checkpoint does not verify: %w", err)
	}

	found, err := s.ix.scan(statementPrefix(eco, pkg), cp.Size)
	if err != nil {
		return nil, err
	}
	obs, err := s.ix.scan(observationPrefix(eco, pkg), cp.Size)
	if err != nil {
		return nil, err
	}
	found = append(found, obs...)
	for _, ns := range release.Namespaces(eco, pkg) {
		evs, err := s.ix.scan(keyEventPrefix(eco, ns), cp.Size)
		if err != nil {
			return nil, err
		}
		found = append(found, evs...)
	}
	slices.SortFunc(found, func(a, b indexed) int { return cmp.Compare(a.idx, b.idx) })

	resp := &tlog.LookupResponse{Checkpoint: string(cpRaw), Entries: make([]tlog.LookupEntry, 0, len(found))}
	if len(found) == 0 {
		return resp, nil
	}
	// The proof builder reads the tiles of exactly cp.Size, so every proof
	// is against the checkpoint returned. Tiles never change once written
	// (a partial tile that Tessera removes is replaced by the full one,
	// which the reader falls back to).
	pb := &proofBuilder{size: cp.Size, read: s.reader.ReadTile, cache: s.tiles}
	for _, e := range found {
		p, err := pb.inclusion(ctx, e.idx)
		if err != nil {
			return nil, fmt.Errorf("inclusion proof of entry %d in tree of size %d: %w", e.idx, cp.Size, err)
		}
		resp.Entries = append(resp.Entries, tlog.LookupEntry{Index: e.idx, Note: string(e.note), Proof: p})
	}
	return resp, nil
}
