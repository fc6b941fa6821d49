package tlog

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
)

// BackdateSlack is how much earlier than a cosigned checkpoint that does
// not contain it an observation may be dated before it counts as
// backdated. An honest log signs an observation a moment before it is
// sequenced, and a checkpoint being cosigned at that moment does not
// contain it yet; witnesses' clocks drift a little from the log's. Minutes
// cover both; a release age is measured in hours or days.
const BackdateSlack = 5 * time.Minute

const observationPrefix = "sigil-observed/v1\n"

// splitObservations moves the observations out of entries into
// lk.Observations, checking that each is signed by the log key, concerns
// the package looked up, and is not dated before the stored checkpoint
// (before, as it was when the lookup started) that does not contain it.
func (c *Client) splitObservations(ctx context.Context, lk *Lookup, entries []Entry, before []byte, from string) error {
	var cosigned time.Time
	var stored *Checkpoint
	if before != nil {
		cp, n, err := c.policy.open(before)
		if err != nil {
			return fmt.Errorf("the stored checkpoint does not verify: %w", err)
		}
		stored, cosigned = cp, c.policy.cosignedAt(n)
	}
	for _, e := range entries {
		if !bytes.HasPrefix(e.Note, []byte(observationPrefix)) {
			lk.Entries = append(lk.Entries, e)
			continue
		}
		n, err := note.Open(e.Note, note.VerifierList(c.policy.log))
		if err != nil {
			return fmt.Errorf("entry %d is an observation not signed by the log key: %v", e.Index, err)
		}
		o, err := release.ParseObservation([]byte(n.Text))
		if err != nil {
			return fmt.Errorf("entry %d: %w", e.Index, err)
		}
		if o.Ecosystem != lk.Ecosystem || o.Package != lk.Package {
			return fmt.Errorf("entry %d is an observation of %s %s", e.Index, o.Ecosystem, o.Package)
		}
		if stored != nil && e.Index >= stored.Size && !cosigned.IsZero() && o.Observed.Add(BackdateSlack).Before(cosigned) {
			return c.security(ctx, &SecurityError{Kind: "backdated", Stored: before, Received: lk.Checkpoint.Note, ReceivedFrom: from,
				Smaller: stored.Size, Larger: lk.Checkpoint.Size, Entry: e.Note, EntryIndex: e.Index,
				Failed: fmt.Sprintf("the observation at index %d is dated %s, but a checkpoint of size %d, which does not contain it, was cosigned at %s: the log signed a time it cannot have observed at",
					e.Index, o.Observed.Format(release.ObservedTimeFormat), stored.Size, cosigned.UTC().Format(time.RFC3339))})
		}
		if lk.Observations == nil {
			lk.Observations = map[string]*Observation{}
		}
		if _, ok := lk.Observations[o.Version]; !ok {
			lk.Observations[o.Version] = &Observation{Index: e.Index, Note: e.Note, Observation: o}
		}
	}
	return nil
}

// cosignedAt is the time by which at least the threshold of configured
// witnesses attest that the checkpoint n existed: the threshold-th latest
// of their newest valid cosignatures, whatever their age. Zero when no
// witness is configured or too few cosigned.
func (p *checkpointPolicy) cosignedAt(n *note.Note) time.Time {
	if p.threshold == 0 {
		return time.Time{}
	}
	var times []time.Time
	for _, w := range p.witnesses {
		var newest time.Time
		for _, s := range n.UnverifiedSigs {
			if s.Name != w.Name() || s.Hash != w.KeyHash() {
				continue
			}
			if t, ok := verifyCosignature(w, n.Text, s); ok && t.After(newest) {
				newest = t
			}
		}
		if !newest.IsZero() {
			times = append(times, newest)
		}
	}
	if len(times) < p.threshold {
		return time.Time{}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return b.Compare(a) })
	return times[p.threshold-1]
}
