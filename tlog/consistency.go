package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// maxSwapAttempts bounds the compare-and-swap loop. Each round is lost only
// to another verification that moved the stored checkpoint forward, so
// running out means the log grows faster than we can follow, or a store
// that never agrees.
const maxSwapAttempts = 10

// refreshTimeout bounds a shared consistency check, which runs on after
// its callers gave up waiting: an HTTPClient without a timeout must not
// leave it hanging and every later lookup of that checkpoint with it.
const refreshTimeout = 2 * time.Minute

var hasher = rfc6962.DefaultHasher

// accept makes cp, a checkpoint that passed the signature policy, part of
// this client's view of the log: it is proven consistent with the stored
// checkpoint and stored if it is newer. Lookups that bring the same
// checkpoint share one check; a caller whose ctx ends stops waiting, but
// the shared check goes on for the others.
func (c *Client) accept(ctx context.Context, cp *Checkpoint, from string) error {
	ch := c.refresh.DoChan(string(cp.Note), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
		defer cancel()
		return nil, c.merge(ctx, cp, from)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// merge is the compare-and-swap loop of accept.
func (c *Client) merge(ctx context.Context, cp *Checkpoint, from string) error {
	for range maxSwapAttempts {
		if err := c.checkNotHalted(ctx); err != nil {
			return err
		}
		raw, err := c.store.Checkpoint(ctx)
		if err != nil {
			return fmt.Errorf("reading the stored checkpoint: %w", err)
		}
		if raw == nil {
			// Nothing to be consistent with: the first checkpoint is trusted
			// on its signatures alone, as in sumdb and every tlog client.
			err := c.store.SwapCheckpoint(ctx, nil, cp.Note)
			if errors.Is(err, ErrCheckpointMoved) {
				continue
			}
			if err != nil {
				return fmt.Errorf("storing the first checkpoint: %w", err)
			}
			c.log.Info("stored the first checkpoint of the log", "size", cp.Size, "root", b64(cp.Hash[:]))
			return nil
		}
		if bytes.Equal(raw, cp.Note) {
			return nil
		}
		stored, _, err := c.policy.open(raw)
		if err != nil {
			return fmt.Errorf("the stored checkpoint does not verify with the configured log key and origin: %w"+
				" (hint: if the log's key or origin changed on purpose, reset the proxy's log state)", err)
		}
		switch {
		case cp.Size == stored.Size:
			if cp.Hash != stored.Hash {
				return c.security(ctx, &SecurityError{Kind: "fork", Stored: raw, Received: cp.Note, ReceivedFrom: from,
					Smaller: cp.Size, Larger: cp.Size,
					Failed: fmt.Sprintf("two checkpoints of size %d with different roots", cp.Size)})
			}
			return nil // same tree, other signatures: nothing to store
		case cp.Size < stored.Size:
			// A lookup that raced a newer verification, or a log serving an
			// old view. Either way the stored checkpoint stays; cp is usable
			// if it is a prefix of it.
			return c.checkConsistent(ctx, cp, stored, raw, cp.Note, from, "rollback")
		}
		if err := c.checkConsistent(ctx, stored, cp, raw, cp.Note, from, "fork"); err != nil {
			return err
		}
		err = c.store.SwapCheckpoint(ctx, raw, cp.Note)
		if errors.Is(err, ErrCheckpointMoved) {
			continue
		}
		if err != nil {
			return fmt.Errorf("storing checkpoint size %d: %w", cp.Size, err)
		}
		c.log.Debug("checkpoint moved forward", "from", stored.Size, "to", cp.Size)
		return nil
	}
	return fmt.Errorf("the stored checkpoint kept changing during %d verifications of checkpoint size %d", maxSwapAttempts, cp.Size)
}

// checkConsistent proves that older is a prefix of newer, from tiles that
// hash to newer's root. storedRaw and receivedRaw are the signed notes for
// the evidence; kind names a failure ("fork" or "rollback").
func (c *Client) checkConsistent(ctx context.Context, older, newer *Checkpoint, storedRaw, receivedRaw []byte, from, kind string) error {
	if older.Size == 0 {
		return nil // the empty tree is a prefix of every tree
	}
	tree := sumtlog.Tree{N: int64(newer.Size), Hash: newer.Hash}
	tr := c.newTileReader(ctx, true)
	thr := sumtlog.TileHashReader(tree, tr)
	p, err := sumtlog.ProveTree(tree.N, int64(older.Size), thr)
	if err != nil && tr.usedCache() {
		// The cache holds tiles proven against the stored checkpoint. If they
		// do not fit newer's root, the log may have forked: build the proof
		// from the log's own tiles alone, so that a fork shows as a failed
		// proof rather than as a bad tile.
		tr = c.newTileReader(ctx, false)
		thr = sumtlog.TileHashReader(tree, tr)
		p, err = sumtlog.ProveTree(tree.N, int64(older.Size), thr)
	}
	if err != nil {
		return fmt.Errorf("proving checkpoint size %d consistent with size %d from the log's tiles (%s fetched from %s; checked against %s): %w",
			older.Size, newer.Size, list(tr.fetchedPaths()), c.base, newer, err)
	}
	hashes := make([][]byte, len(p))
	for i := range p {
		hashes[i] = p[i][:]
	}
	err = proof.VerifyConsistency(hasher, older.Size, newer.Size, hashes, older.Hash[:], newer.Hash[:])
	if err == nil {
		tr.flush(ctx)
		return nil
	}
	// The tiles hash to newer's root, so this is the log's own word on what
	// its first older.Size entries were. It cannot fail here: ProveTree read
	// the same tiles.
	root, rerr := sumtlog.TreeHash(int64(older.Size), thr)
	if rerr != nil {
		return fmt.Errorf("consistency proof from size %d to %d failed (%v), and recomputing the root failed: %w", older.Size, newer.Size, err, rerr)
	}
	return c.security(ctx, &SecurityError{Kind: kind, Stored: storedRaw, Received: receivedRaw, ReceivedFrom: from,
		Smaller: older.Size, Larger: newer.Size, Proof: hashes, SmallerRoot: root[:],
		Failed: fmt.Sprintf("the size-%d checkpoint is not a prefix of the size-%d checkpoint: the larger tree's first %d entries have root %s, the smaller checkpoint says %s",
			older.Size, newer.Size, older.Size, b64(root[:]), b64(older.Hash[:]))})
}

// security completes e, records it durably and halts the client.
func (c *Client) security(ctx context.Context, e *SecurityError) error {
	e.Log = c.base.String()
	e.Origin = c.policy.origin
	e.Time = c.now()
	c.halted.CompareAndSwap(nil, e)
	c.log.Error("SECURITY ERROR: release log misbehaviour; refusing the log until an operator resets its state",
		"kind", e.Kind, "failed", e.Failed)
	if err := c.store.RecordSecurityError(ctx, []byte(e.String())); err != nil {
		// The evidence is still in e and in the log output; this client
		// refuses on its own, but a restart would not know.
		c.log.Error("recording the security error failed; it is only in this process and this log output",
			"err", err, "evidence", e.String())
		return fmt.Errorf("%w (recording it failed: %v)", e, err)
	}
	return e
}

// checkNotHalted refuses when this client or any client over the same store
// found proof of misbehaviour.
func (c *Client) checkNotHalted(ctx context.Context) error {
	if e := c.halted.Load(); e != nil {
		return fmt.Errorf("%w: refusing the log since a %s was detected at %s (hint: an operator must read the evidence and reset the proxy's log state)",
			ErrSecurity, e.Kind, e.Time.UTC().Format("2006-01-02T15:04:05Z"))
	}
	ev, err := c.store.SecurityErrors(ctx)
	if err != nil {
		// Not knowing whether evidence exists is not knowing it is safe.
		return fmt.Errorf("reading recorded security errors: %w", err)
	}
	if len(ev) > 0 {
		last := ev[len(ev)-1]
		return fmt.Errorf("%w: refusing the log: %d security error(s) recorded, the last: %q (hint: an operator must read the evidence and reset the proxy's log state)",
			ErrSecurity, len(ev), firstLines(last, 2))
	}
	return nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " ")
}
