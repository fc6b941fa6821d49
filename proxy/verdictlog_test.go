package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sigilproxy/sigil/policy"
	"github.com/sigilproxy/sigil/release"
)

// TestVerdictLogUnsignedWarnOnePackageLine: an install under
// --unsigned warn logs one line for an unsigned package, whatever its
// number of versions, documents and archive requests; an archive with a
// real problem gets its own line, once.
func TestVerdictLogUnsignedWarnOnePackageLine(t *testing.T) {
	var buf bytes.Buffer
	l := newVerdictLog(slog.New(slog.NewTextHandler(&buf, nil)))
	ctx := context.Background()
	cfg := &policy.Config{Unsigned: policy.UnsignedWarn}
	ev := unsigned(release.Composer, "free/pkg")
	var facts []VersionFacts
	var out []VersionVerdict
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		f := VersionFacts{Ecosystem: release.Composer, Metadata: policy.Metadata{Package: "free/pkg", Version: v}}
		facts = append(facts, f)
		out = append(out, VersionVerdict{Verdict: cfg.Version(ev, f.Metadata)})
	}
	for range 3 { // the document asked for again and again
		l.versions(ctx, release.Composer, "free/pkg", facts, out)
	}
	for i := range facts { // every archive, twice
		for range 2 {
			l.archive(ctx, &facts[i], out[i].Verdict)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `msg="package decision"`) || !strings.Contains(lines[0], "warned=3") {
		t.Fatalf("want one package decision line, got:\n%s", buf.String())
	}

	buf.Reset()
	tampered := policy.Verdict{Action: policy.Warn, Failed: true, Reasons: []string{
		out[0].Reason(), "free/pkg@1.0.0: the archive's tree hash differs from the pinned one"}}
	for range 2 {
		l.archive(ctx, &facts[0], tampered)
	}
	if n := strings.Count(buf.String(), `msg="archive decision"`); n != 1 || !strings.Contains(buf.String(), "tree hash") {
		t.Errorf("a tampered archive logged %d archive decision lines, want 1:\n%s", n, buf.String())
	}
}
