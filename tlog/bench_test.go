package tlog_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
	"github.com/sigilproxy/sigil/tlog/tlogtest"
)

// benchLog is a log of size entries in which composer acme/foo has a
// key event and 100 statements, spread over the log.
func benchLog(b *testing.B, size int) (*testLog, party) {
	b.Helper()
	l := newTestLog(b, 2)
	// Hashes are computed directly (sumdb's tlog), not through Tessera,
	// into arrays sized once: a million entries take a few seconds.
	l.leaves = make([][]byte, 0, size)
	l.hashes = make([]sumtlog.Hash, 0, sumtlog.StoredHashCount(int64(size)))
	core, a := newParty(b, "packagist-core"), newParty(b, "acme")
	l.add(keyEvent(b, "acme", release.ActionAdd, a.vkey, core), pkgKey)
	const statements = 100
	for i := 1; i < size; i++ {
		if i%(size/statements) == 1 {
			l.add(statement(b, "acme/foo", fmt.Sprintf("1.0.%d", i), fmt.Sprint(i), a), pkgKey)
			continue
		}
		l.addFiller(fmt.Appendf(nil, "filler %d\n", i))
	}
	return l, core
}

// addFiller logs data that no lookup returns. Only its hashes are kept,
// so that a million fillers do not fill the heap the benchmark's garbage
// collector scans.
func (l *testLog) addFiller(data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, err := sumtlog.StoredHashes(int64(len(l.leaves)), data, l.hashReader())
	if err != nil {
		l.t.Fatal(err)
	}
	l.leaves = append(l.leaves, nil)
	l.hashes = append(l.hashes, h...)
}

// BenchmarkLookupVerify is one warm lookup of a package with 100
// statements in a log of 1,000,000 entries, with everything the proxy
// checks: checkpoint and witness signatures, consistency with the stored
// checkpoint (which the steady state finds equal), 101 inclusion proofs,
// and the evaluation of keys and statements, whose signatures the client
// verified on an earlier lookup. The time includes the test log's side
// (proofs, signing the checkpoint).
func BenchmarkLookupVerify(b *testing.B) {
	l, core := benchLog(b, 1_000_000)
	store := new(tlogtest.Store)
	c := l.client(b, store, nil)
	benchLookup(b, c, core)
	b.ResetTimer()
	defer reportCPU(b)()
	for b.Loop() {
		benchLookup(b, c, core)
	}
}

// reportCPU reports the process's CPU time per operation (client and test
// log together), which a machine busy with other work inflates less than
// the wall time. Call it, and defer the function it returns, just before
// the loop.
func reportCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() { b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLookupVerifyCold is the same lookup by a client that has not
// seen the package's notes: 101 Ed25519 verifications more.
func BenchmarkLookupVerifyCold(b *testing.B) {
	l, core := benchLog(b, 1_000_000)
	store := new(tlogtest.Store)
	defer reportCPU(b)()
	for b.Loop() {
		benchLookup(b, l.client(b, store, nil), core)
	}
}

// BenchmarkLookupVerifyConsistency is the same lookup when the stored
// checkpoint is older and the tile cache empty: each lookup also fetches
// tiles and proves consistency.
func BenchmarkLookupVerifyConsistency(b *testing.B) {
	l, core := benchLog(b, 1_000_000)
	l.mu.Lock()
	older := l.checkpoint(600_000)
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
	pt, err := lk.Evaluate([]string{core.vkey}, nil, true)
	if err != nil {
		b.Fatal(err)
	}
	if len(pt.Statements) != 100 {
		b.Fatalf("%d valid statements", len(pt.Statements))
	}
}
