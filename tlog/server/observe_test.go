package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

// fakeObserver lists versions "1.0.0" and "2.0.0" of every package and
// counts its measurements; block, when set, holds each measurement until
// it is closed.
type fakeObserver struct {
	measured atomic.Int32
	prepared atomic.Int32
	block    chan struct{}
	listAll  bool // list every version asked about
}

func (f *fakeObserver) Observes(eco string) bool { return eco == release.NPM }

func (f *fakeObserver) Prepare(ctx context.Context, eco, pkg string, versions []string) (map[string]Measure, error) {
	f.prepared.Add(1)
	out := map[string]Measure{}
	for _, v := range versions {
		if !f.listAll && v != "1.0.0" && v != "2.0.0" {
			continue
		}
		out[v] = func(ctx context.Context) (*release.Observation, error) {
			f.measured.Add(1)
			if f.block != nil {
				<-f.block
			}
			return &release.Observation{Ecosystem: eco, Package: pkg, Version: v,
				Tree: "h1:" + b64(make([]byte, 32)), Manifest: "sha256:" + strings.Repeat("00", 32),
				Archive: "sha512-" + b64(make([]byte, 64))}, nil
		}
	}
	return out, nil
}

func (tl *testLog) lookupVersions(eco, pkg string, versions ...string) (int, string) {
	tl.t.Helper()
	u := tl.http.URL + tlog.LookupPath + eco + "/" + pkg
	for i, v := range versions {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "version=" + v
	}
	resp, err := http.Get(u)
	if err != nil {
		tl.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func observations(t *testing.T, body string) []*release.Observation {
	t.Helper()
	var r tlog.LookupResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%v in %q", err, body)
	}
	var out []*release.Observation
	for _, e := range r.Entries {
		text, err := noteText([]byte(e.Note))
		if err != nil {
			t.Fatal(err)
		}
		if o, err := release.ParseObservation(text); err == nil {
			out = append(out, o)
		}
	}
	return out
}

func TestObserveOncePerVersion(t *testing.T) {
	obs := &fakeObserver{}
	clock := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tl := newTestLog(t, func(c *Config) { c.Observer = obs; c.Now = func() time.Time { return clock } })

	// Concurrent lookups of one version: one measurement, one entry.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if st, body := tl.lookupVersions(release.NPM, "left-pad", "1.0.0", "9.9.9"); st != http.StatusOK {
				t.Errorf("lookup: %d %s", st, body)
			}
		})
	}
	wg.Wait()
	st, body := tl.lookupVersions(release.NPM, "left-pad", "1.0.0")
	got := observations(t, body)
	if st != http.StatusOK || len(got) != 1 || obs.measured.Load() != 1 {
		t.Fatalf("after concurrent lookups: status %d, %d observations, %d measurements; want one of each", st, len(got), obs.measured.Load())
	}
	if got[0].Version != "1.0.0" || !got[0].Observed.Equal(clock) {
		t.Errorf("observation = %+v", got[0])
	}
	// The log key signed it.
	r := tl.lookup(release.NPM, "left-pad")
	v, err := note.NewVerifier(tl.logK.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open([]byte(r.Entries[0].Note), note.VerifierList(v)); err != nil {
		t.Errorf("observation does not verify with the log key: %v", err)
	}

	// After a restart the version is still observed, and not measured again.
	tl.reopen()
	clock = clock.Add(time.Hour)
	_, body = tl.lookupVersions(release.NPM, "left-pad", "1.0.0", "2.0.0")
	got = observations(t, body)
	if len(got) != 2 || obs.measured.Load() != 2 || !got[0].Observed.Equal(clock.Add(-time.Hour)) {
		t.Fatalf("after restart: %d observations, %d measurements", len(got), obs.measured.Load())
	}

	// Nobody else may add an observation.
	tl.refused([]byte(r.Entries[0].Note), http.StatusForbidden, "made by the log itself")
	// Ecosystems the log does not observe are looked up as before.
	if st, body := tl.lookupVersions(release.Composer, "acme/foo", "1.0.0"); st != http.StatusOK || len(observations(t, body)) != 0 {
		t.Errorf("composer lookup: %d %s", st, body)
	}
	if st, body := tl.lookupVersions(release.NPM, "left-pad", "bad%20version"); st != http.StatusBadRequest {
		t.Errorf("bad version: %d %s", st, body)
	}
}

func TestObserveTooMany(t *testing.T) {
	obs := &fakeObserver{block: make(chan struct{})}
	tl := newTestLog(t, func(c *Config) { c.Observer = obs; c.ObserveQueue = 1; c.ObserveConcurrency = 1 })
	done := make(chan struct{})
	go func() {
		defer close(done)
		tl.lookupVersions(release.NPM, "a", "1.0.0")
	}()
	for obs.measured.Load() == 0 {
		time.Sleep(time.Millisecond) // until the first holds the only queue place
	}
	resp, err := http.Get(tl.http.URL + tlog.LookupPath + "npm/b?version=1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second lookup: %d %q (Retry-After %q), want 429", resp.StatusCode, b, resp.Header.Get("Retry-After"))
	}
	close(obs.block)
	<-done
	if st, body := tl.lookupVersions(release.NPM, "b", "1.0.0"); st != http.StatusOK || len(observations(t, body)) != 1 {
		t.Errorf("after the first: %d %s", st, body)
	}
}

// BenchmarkLookupObserved is a warm lookup that names 100 versions the log
// has observed: it must meet the lookup goal (5 ms) like any other, since
// nothing is fetched again.
func BenchmarkLookupObserved(b *testing.B) {
	obs := &fakeObserver{listAll: true}
	tl := newTestLog(b, func(c *Config) { c.Observer = obs; c.Logger = nil; c.ObserveQueue = 128 })
	versions := make([]string, 100)
	for i := range versions {
		versions[i] = fmt.Sprintf("1.0.%d", i)
	}
	ctx := context.Background()
	if _, err := tl.srv.Lookup(ctx, release.NPM, "left-pad", versions...); err != nil {
		b.Fatal(err)
	}
	measured := obs.measured.Load()
	for b.Loop() {
		r, err := tl.srv.Lookup(ctx, release.NPM, "left-pad", versions...)
		if err != nil || len(r.Entries) != 100 {
			b.Fatalf("lookup: %d entries, %v", len(r.Entries), err)
		}
	}
	if obs.measured.Load() != measured {
		b.Errorf("a warm lookup measured again")
	}
}
