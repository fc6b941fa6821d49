package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

func TestObservations(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	withObs := func(e *Evidence) *Evidence {
		e.Observations = map[string]*tlog.Observation{"1.0.0": {Index: 42, Observation: &release.Observation{Tree: treeA, Manifest: manA, Observed: at}}}
		return e
	}
	age := func(d time.Duration) *Config { return &Config{Unsigned: UnsignedAllow, MinReleaseAge: &d} }
	warnAge := func(d time.Duration) *Config { c := age(d); c.Mode = ModeWarn; return c }
	metaAt := func(v, man string, now time.Time) Metadata {
		m := meta(v)
		m.Manifest, m.Now = man, now
		return m
	}
	for _, c := range []struct {
		name    string
		cfg     *Config
		ev      *Evidence
		m       Metadata
		a       *ArchiveFacts
		action  Action
		reasons []string
	}{
		{"unsigned, as observed", age(0), withObs(unsignedEvidence()), metaAt("1.0.0", manA, at), &ArchiveFacts{Tree: treeA, Pinned: treeA, Manifest: manA}, Allow, nil},
		{"unsigned, other dependencies", age(0), withObs(unsignedEvidence()), metaAt("1.0.0", manB, at), nil, Block,
			[]string{"acme/foo@1.0.0: the dependencies in the metadata (manifest sha256:bbbb) differ from what the release log observed (manifest sha256:aaaa, observation at log index 42, made 2026-05-01T12:00:00Z)"}},
		{"unsigned, other bytes, fresh cache", age(0), withObs(unsignedEvidence()), metaAt("1.0.0", manA, at), &ArchiveFacts{Tree: treeB, Pinned: treeB, Manifest: manA}, Block,
			[]string{"archive's tree hash " + treeB + " differs from the tree " + treeA + " the release log observed (observation at log index 42"}},
		{"unsigned, pin disagrees too", age(0), withObs(unsignedEvidence()), metaAt("1.0.0", manA, at), &ArchiveFacts{Tree: treeB, Pinned: treeA, Manifest: manA}, Block,
			[]string{"the release log observed", "first seen for this unsigned version and pinned"}},
		{"signed, observation disagrees", age(0), withObs(signedEvidence()), metaAt("1.0.0", manA, at), &ArchiveFacts{Tree: treeB, Manifest: manA}, Block,
			[]string{"signed tree", "the release log observed"}},
		{"warn mode", &Config{Mode: ModeWarn}, withObs(unsignedEvidence()), metaAt("1.0.0", manB, at), nil, Warn, []string{"differ from what the release log observed"}},
		{"cooldown", age(3 * day), withObs(unsignedEvidence()), metaAt("1.0.0", manA, at.Add(day)), nil, Block,
			[]string{"released 24h0m0s ago by the release log's clock (observation at log index 42, made 2026-05-01T12:00:00Z), younger than the min-release-age of 72h0m0s; installable from 2026-05-04T12:00:00Z"}},
		{"cooldown warn", warnAge(3 * day), withObs(unsignedEvidence()), metaAt("1.0.0", manA, at.Add(day)), nil, Warn, []string{"installable from"}},
		{"cooldown passed", age(3 * day), withObs(unsignedEvidence()), metaAt("1.0.0", manA, at.Add(3*day)), nil, Allow, nil},
		{"cooldown, not observed", age(3 * day), withObs(unsignedEvidence()), metaAt("2.0.0", manA, at), nil, Block, []string{"has not observed this version yet"}},
		{"no cooldown, not observed", age(0), withObs(unsignedEvidence()), metaAt("2.0.0", manA, at), nil, Allow, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v Verdict
			if c.a != nil {
				v = c.cfg.Archive(c.ev, c.m, *c.a)
			} else {
				v = c.cfg.Version(c.ev, c.m)
			}
			if v.Action != c.action {
				t.Errorf("action = %v, want %v (%q)", v.Action, c.action, v.Reasons)
			}
			for _, r := range c.reasons {
				if !strings.Contains(v.Reason(), r) {
					t.Errorf("reasons %q lack %q", v.Reasons, r)
				}
			}
		})
	}
}

func TestMinReleaseAgeFile(t *testing.T) {
	c, err := Parse("p.toml", []byte("min_release_age = \"72h\"\n[[rule]]\npackage = \"acme/*\"\nmin_release_age = \"0s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.For("other/x").MinReleaseAge; got != 72*time.Hour {
		t.Errorf("top level = %v", got)
	}
	if got := c.For("acme/x").MinReleaseAge; got != 0 {
		t.Errorf("rule = %v", got)
	}
	if _, err := Parse("p.toml", []byte("min_release_age = \"soon\"\n")); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Errorf("bad duration: %v", err)
	}
	flags := Config{MinReleaseAge: new(time.Duration)}
	if o := c.Overlay(flags); o.For("other/x").MinReleaseAge != 0 {
		got := o.For("other/x").MinReleaseAge
		t.Errorf("flag 0 over file 72h = %v", got)
	}
}

// TestVersionUntil: a verdict VersionUntil says holds until t is the same
// verdict, reasons included, at every time before t, and another at t.
func TestVersionUntil(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ev := unsignedEvidence()
	ev.Observations = map[string]*tlog.Observation{"1.0.0": {Index: 42, Observation: &release.Observation{Tree: treeA, Manifest: manA, Observed: at}}}
	day := 24 * time.Hour
	for _, c := range []struct {
		name    string
		minAge  time.Duration
		age     time.Duration
		version string
		want    time.Duration // after the observation; -1: never
	}{
		{"young", 3 * day, day + 300*time.Millisecond, "1.0.0", day + time.Second},
		{"coming of age", 3 * day, 3*day - 300*time.Millisecond, "1.0.0", 3 * day},
		{"sub-second release age", 1500 * time.Millisecond, 1200 * time.Millisecond, "1.0.0", 1500 * time.Millisecond},
		{"of age", 3 * day, 3 * day, "1.0.0", -1},
		{"no release age", 0, time.Second, "1.0.0", -1},
		{"not observed", 3 * day, time.Second, "2.0.0", -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{Unsigned: UnsignedAllow, MinReleaseAge: &c.minAge}
			m := meta(c.version)
			m.Manifest, m.Now = manA, at.Add(c.age)
			until := cfg.VersionUntil(ev, m)
			if c.want < 0 {
				if !until.IsZero() {
					t.Fatalf("until %v, want never", until)
				}
				m.Now = m.Now.Add(10 * day)
				if later := cfg.Version(ev, m); c.version == "1.0.0" && c.minAge > 0 && later.Action != Allow {
					t.Errorf("later: %v", later)
				}
				return
			}
			if want := at.Add(c.want); !until.Equal(want) {
				t.Fatalf("until %v, want %v", until, want)
			}
			first := cfg.Version(ev, m)
			m.Now = until.Add(-time.Nanosecond)
			if v := cfg.Version(ev, m); v.Action != first.Action || v.Reason() != first.Reason() {
				t.Errorf("just before until: %v %q, want %v %q", v.Action, v.Reason(), first.Action, first.Reason())
			}
			m.Now = until
			if v := cfg.Version(ev, m); v.Action == first.Action && v.Reason() == first.Reason() {
				t.Errorf("at until: the same verdict %q", v.Reason())
			}
		})
	}
}
