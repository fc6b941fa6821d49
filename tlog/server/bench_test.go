package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// BenchmarkAdd measures admitted entries per second: b.N statements,
// from many concurrent clients, each answered once a checkpoint covers it
// (checkpoint interval 100ms). Run it with -benchtime=2000x or so: one
// iteration is one admitted entry.
func BenchmarkAdd(b *testing.B) {
	tl := newTestLog(b, func(c *Config) { c.Logger = nil })
	vendor := newKey(b, "acme")
	tl.add(keyEvent(b, release.Composer, "acme", release.ActionAdd, vendor.vkey, tl.core.signer))
	var n atomic.Int64
	b.SetParallelism(256)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			msg := statement(b, release.Composer, "acme/p"+strconv.FormatInt(i%1000, 10), "v1.0."+strconv.FormatInt(i, 10), byte(i), vendor.signer)
			if _, err := tl.srv.Add(context.Background(), msg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

// lookupLog is the log of BenchmarkLookup: lookupLogSize entries, of which
// lookupStatements are statements of acme/foo, the rest statements of
// other packages. It is built once per test binary run.
const (
	lookupLogSize    = 100_000
	lookupStatements = 100
)

var lookup struct {
	once sync.Once
	tl   *testLog
	dir  string
	err  error
}

// benchLookupLog builds the 100,000-entry log. Admitting that many
// entries one by one, each answered after a checkpoint, would take minutes,
// so the entries (valid notes: a core-signed vendor key, then statements
// it signed) are written with Tessera directly in large batches, and the
// server then indexes them on Open, through the same catch-up that
// recovers from a crash.
func benchLookupLog(b *testing.B) *testLog {
	lookup.once.Do(func() {
		dir, err := os.MkdirTemp("", "sigil-lookup-bench-")
		if err != nil {
			lookup.err = err
			return
		}
		lookup.dir = dir
		// The log outlives this benchmark run (b.N grows over several), so
		// it is not tied to b's cleanups; benchCleanup removes it.
		tl := &testLog{t: b, core: newKey(b, "core"), logK: newKey(b, "log.example/bench")}
		tl.cfg = Config{
			Dir:                dir,
			Key:                tl.logK.skey,
			CoreKeys:           []CoreKey{{Key: tl.core.vkey}},
			CheckpointInterval: 100 * time.Millisecond,
		}
		vendor := newKey(b, "acme")
		notes := [][]byte{keyEvent(b, release.Composer, "acme", release.ActionAdd, vendor.vkey, tl.core.signer)}
		// Spread acme/foo's statements evenly through the log, so that
		// their proofs touch many different tiles.
		every := (lookupLogSize - 1) / lookupStatements
		for i := range lookupLogSize - 1 {
			pkg, v := "acme/filler"+strconv.Itoa(i%997), "v0."+strconv.Itoa(i)
			if i%every == 0 && i/every < lookupStatements {
				pkg = "acme/foo"
			}
			notes = append(notes, statement(b, release.Composer, pkg, v, byte(i), vendor.signer))
		}
		start := time.Now()
		if lookup.err = writeRaw(dir, tl.logK.signer, notes); lookup.err != nil {
			return
		}
		written := time.Since(start)
		start = time.Now()
		srv, err := Open(context.Background(), tl.cfg)
		if err != nil {
			lookup.err = err
			return
		}
		fmt.Fprintf(os.Stderr, "log of %d entries: written by Tessera in %v, indexed by Open in %v\n",
			lookupLogSize, written.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		tl.srv = srv
		lookup.tl = tl
	})
	if lookup.err != nil {
		b.Fatal(lookup.err)
	}
	return lookup.tl
}

// writeRaw appends notes to a new log in dir with Tessera alone, in
// order, and publishes a checkpoint that covers them.
func writeRaw(dir string, signer note.Signer, notes [][]byte) error {
	ctx := context.Background()
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return err
	}
	app, shutdown, _, err := tessera.NewAppender(ctx, driver, tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithCheckpointInterval(time.Second).
		WithBatching(4096, 50*time.Millisecond))
	if err != nil {
		return err
	}
	futures := make([]tessera.IndexFuture, len(notes))
	for i, n := range notes {
		futures[i] = app.Add(ctx, tessera.NewEntry(n))
	}
	for i, f := range futures {
		idx, err := f()
		if err != nil {
			return err
		}
		if idx.Index != uint64(i) {
			return fmt.Errorf("note %d got index %d", i, idx.Index)
		}
	}
	return shutdown(ctx)
}

// BenchmarkLookup measures the lookup of a package with 100 statements
// in a log of 100,000 entries: in-process (index scan and 100 inclusion
// proofs from tiles), over HTTP with JSON, and over HTTP followed by
// verifying the checkpoint signature and every proof.
func BenchmarkLookup(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a log of 100,000 entries")
	}
	tl := benchLookupLog(b)
	r, err := tl.srv.Lookup(context.Background(), release.Composer, "acme/foo")
	if err != nil {
		b.Fatal(err)
	}
	if len(r.Entries) != lookupStatements+1 {
		b.Fatalf("lookup has %d entries; want %d", len(r.Entries), lookupStatements+1)
	}
	h := tl.srv.Handler()
	get := func(b *testing.B) []byte {
		rec := &discardRecorder{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodGet, tlog.LookupPath+"composer/acme/foo", nil)
		h.ServeHTTP(rec, req)
		if rec.status != 0 && rec.status != http.StatusOK {
			b.Fatalf("lookup: %d", rec.status)
		}
		return rec.body
	}

	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			if _, err := tl.srv.Lookup(context.Background(), release.Composer, "acme/foo"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("http", func(b *testing.B) {
		for b.Loop() {
			get(b)
		}
	})
	b.Run("http+verify", func(b *testing.B) {
		v, err := note.NewVerifier(tl.srv.VerifierKey())
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			var lk tlog.LookupResponse
			if err := json.Unmarshal(get(b), &lk); err != nil {
				b.Fatal(err)
			}
			verifyLookup(b, &lk, v)
		}
	})
}

// discardRecorder is a minimal http.ResponseWriter that keeps the body.
type discardRecorder struct {
	header http.Header
	status int
	body   []byte
}

func (d *discardRecorder) Header() http.Header { return d.header }
func (d *discardRecorder) WriteHeader(s int)   { d.status = s }
func (d *discardRecorder) Write(p []byte) (int, error) {
	d.body = append(d.body, p...)
	return len(p), nil
}

// benchCleanup closes and removes the lookup benchmark's log; TestMain
// calls it after the run.
func benchCleanup() {
	if lookup.tl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = lookup.tl.srv.Close(ctx)
	}
	if lookup.dir != "" {
		_ = os.RemoveAll(lookup.dir)
	}
}

var _ io.Writer = (*discardRecorder)(nil)
