package tlog_test

import (
	"fmt"
	"testing"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

// benchLog is a log of 100,000 entries in which composer acme/foo has a
// key event and 100 statements, spread over the log.
func benchLog(b *testing.B) (*testLog, party) {
	b.Helper()
	l := newTestLog(b, 2)
	core, a := newParty(b, "packagist-core"), newParty(b, "acme")
	l.add(keyEvent(b, "acme", release.ActionAdd, a.vkey, core), pkgKey)
	const size, statements = 100_000, 100
	for i := 1; i < size; i++ {
		if i%(size/statements) == 1 {
			l.add(statement(b, "acme/foo", fmt.Sprintf("1.0.%d", i), fmt.Sprint(i), a), pkgKey)
			continue
		}
		l.add(fmt.Appendf(nil, "filler %d\n", i))
	}
	return l, core
}

// BenchmarkLookupVerify is one lookup of a package with 100 statements in
// a log of 100,000 entries, with everything the proxy checks: checkpoint
// and witness signatures, consistency with the stored checkpoint (which
// the steady state finds equal), 101 inclusion proofs, and the evaluation
// of keys and statements.
func BenchmarkLookupVerify(b *testing.B) {
	l, core := benchLog(b)
	store := new(tlogtest.Store)
	c := l.client(b, store, nil)
	b.ResetTimer()
	for b.Loop() {
		benchLookup(b, c, core)
	}
}

// BenchmarkLookupVerifyConsistency is the same lookup when the stored
// checkpoint is older and the tile cache empty: each lookup also fetches
// tiles and proves consistency.
func BenchmarkLookupVerifyConsistency(b *testing.B) {
	l, core := benchLog(b)
	l.mu.Lock()
	older := l.checkpoint(60_000)
	l.mu.Unlock()
	for b.Loop() {
		b.StopTimer()
		store := new(tlogtest.Store)
		if err := store.SwapCheckpoint(ctx, nil, older); err != nil {
			b.Fatal(err)
		}
		c := l.client(b, store, nil)
		b.StartTimer()
		benchLookup(b, c, core)
	}
}

func benchLookup(b *testing.B, c *tlog.Client, core party) {
	lk, err := c.Lookup(ctx, "composer", "acme/foo")
	if err != nil {
		b.Fatal(err)
	}
	pt, err := tlog.Evaluate(lk.Entries, "composer", "acme/foo", []string{core.vkey}, nil, true)
	if err != nil {
		b.Fatal(err)
	}
	if len(pt.Statements) != 100 {
		b.Fatalf("%d valid statements", len(pt.Statements))
	}
}
