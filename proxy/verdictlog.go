package proxy

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sigilproxy/sigil/policy"
)

// verdictLogEntries bounds what verdictLog remembers: one small entry per
// package (and per archive refused). A package forgotten and asked for
// again gets its line again, which is harmless.
const verdictLogEntries = 16384

// DefaultSummaryEvery is how often serve writes the summary of verdicts
// (Verifier.RunSummary): often enough to see that sigil is working, rarely
// enough to stay out of the way.
const DefaultSummaryEvery = 10 * time.Minute

// verdictLog is sigil's own account of its verdicts, written so that a
// normal install is quiet: one line per package when what sigil decided
// about it changes (not one per version per request), and a periodic
// summary of counts. Every single verdict is still logged at Debug level.
// Safe for concurrent use.
type verdictLog struct {
	log  *slog.Logger
	seed maphash.Seed
	last *lru.Cache[string, uint64] // key → digest of the last decision logged

	mu     sync.Mutex
	counts verdictCounts // since the last summary
}

// verdictCounts are the counts of one summary.
type verdictCounts struct {
	versions [3]uint64 // by action: Allow, Warn, Block
	archives [3]uint64
}

func (c verdictCounts) zero() bool { return c == verdictCounts{} }

func newVerdictLog(log *slog.Logger) *verdictLog {
	last, _ := lru.New[string, uint64](verdictLogEntries)
	return &verdictLog{log: log, seed: maphash.MakeSeed(), last: last}
}

// actionIndex maps an action to its count; an action sigil does not know
// counts as a block, as it is acted on.
func actionIndex(a policy.Action) int {
	switch a {
	case policy.Allow:
		return 0
	case policy.Warn:
		return 1
	}
	return 2
}

// versions records the verdicts of one document of a package and logs a
// line when they differ from the last ones logged for it: Warn when some
// version is warned about or blocked, Info when the package is back to
// all allowed, Debug the first time a package is all allowed (the normal
// case is not news).
func (l *verdictLog) versions(ctx context.Context, eco, pkg string, facts []VersionFacts, out []VersionVerdict) {
	var n [3]int
	var h maphash.Hash
	h.SetSeed(l.seed)
	first := ""
	for i := range out {
		vd := &out[i].Verdict
		a := actionIndex(vd.Action)
		n[a]++
		if vd.Action == policy.Allow && len(vd.Reasons) == 0 {
			continue
		}
		h.WriteString(facts[i].Version)
		h.WriteByte(byte(a))
		for _, r := range vd.Reasons {
			h.WriteString(r)
			h.WriteByte(0)
		}
		if first == "" {
			first = vd.Reason()
		}
	}
	l.mu.Lock()
	for i := range n {
		l.counts.versions[i] += uint64(n[i])
	}
	l.mu.Unlock()

	digest := h.Sum64()
	key := "versions\x00" + eco + "\x00" + pkg
	old, seen := l.last.Get(key)
	if seen && old == digest {
		return
	}
	l.last.Add(key, digest)
	level := slog.LevelWarn
	switch {
	case n[1]+n[2] > 0:
	case seen:
		level = slog.LevelInfo
	default:
		level = slog.LevelDebug
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.LogAttrs(ctx, level, "package decision",
		slog.String("ecosystem", eco),
		slog.String("package", pkg),
		slog.Int("allowed", n[0]),
		slog.Int("warned", n[1]),
		slog.Int("blocked", n[2]),
		slog.String("first", first))
}

// archive records the verdict of one archive request and logs a line when
// it differs from the last one logged for that version: Warn when it says
// more than the package's decision line did, nothing otherwise (a plain
// Allow, or the unsigned = warn notice alone, which is about the package
// and in its line already).
func (l *verdictLog) archive(ctx context.Context, f *VersionFacts, vd policy.Verdict) {
	a := actionIndex(vd.Action)
	l.mu.Lock()
	l.counts.archives[a]++
	l.mu.Unlock()
	if vd.Action == policy.Allow && len(vd.Reasons) == 0 || vd.NoticeOnly {
		return
	}
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteByte(byte(a))
	for _, r := range vd.Reasons {
		h.WriteString(r)
		h.WriteByte(0)
	}
	key := "archive\x00" + f.Ecosystem + "\x00" + f.Package + "\x00" + f.Version
	if old, ok := l.last.Get(key); ok && old == h.Sum64() {
		return
	}
	l.last.Add(key, h.Sum64())
	l.log.LogAttrs(ctx, slog.LevelWarn, "archive decision",
		slog.String("ecosystem", f.Ecosystem),
		slog.String("package", f.Package),
		slog.String("version", f.Version),
		slog.String("action", vd.Action.String()),
		slog.String("reason", vd.Reason()))
}

// summarize logs the counts since the last summary, if there are any, and
// starts counting again.
func (l *verdictLog) summarize(ctx context.Context) {
	l.mu.Lock()
	c := l.counts
	l.counts = verdictCounts{}
	l.mu.Unlock()
	if c.zero() {
		return
	}
	l.log.LogAttrs(ctx, slog.LevelInfo, "verdicts since the last summary",
		slog.Uint64("versions_allowed", c.versions[0]),
		slog.Uint64("versions_warned", c.versions[1]),
		slog.Uint64("versions_blocked", c.versions[2]),
		slog.Uint64("archives_allowed", c.archives[0]),
		slog.Uint64("archives_warned", c.archives[1]),
		slog.Uint64("archives_blocked", c.archives[2]))
}

// RunSummary writes a summary of the verdicts made since the last one on
// every tick (time.NewTicker(DefaultSummaryEvery).C in serve), and a last
// one when ctx ends. A summary with nothing to count is not written.
func (v *Verifier) RunSummary(ctx context.Context, tick <-chan time.Time) {
	for {
		select {
		case <-tick:
			v.vlog.summarize(ctx)
		case <-ctx.Done():
			v.vlog.summarize(context.WithoutCancel(ctx))
			return
		}
	}
}
