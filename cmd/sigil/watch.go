package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"
	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/internal/atomicfile"
	"github.com/sigilproxy/sigil/release"
)

func logWatchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "report every key event, statement and observation of namespaces, from the log's tiles",
		UsageText: "sigil log watch --log URL --log-key VKEY --namespace ECO:NS ... [--state FILE]",
		Description: "Reads the release log's entries from where the last run stopped (--state FILE;\n" +
			"without it, from the first entry) to its latest checkpoint, proving each entry is in\n" +
			"that checkpoint and the checkpoint consistent with the stored one, and prints one\n" +
			"line per key event, statement and observation of the watched namespaces:\n\n" +
			"  INDEX key ECO NS ACTION KEY by SIGNERS: own|first keys of the namespace|NOT SIGNED BY THE NAMESPACE'S OWN KEYS\n" +
			"  INDEX statement ECO PACKAGE VERSION TREE by SIGNERS\n" +
			"  INDEX observed ECO PACKAGE VERSION TREE at TIME\n\n" +
			"Exit status 1 when a key event on a namespace that had keys was not signed by one\n" +
			"of them (a core-signed break-glass, or a key you did not add), after the state is\n" +
			"saved, so the next run reports only what is new. Environment: SIGIL_LOG, SIGIL_LOG_KEY,\n" +
			"SIGIL_WATCH_NAMESPACES (comma-separated), SIGIL_WATCH_STATE.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "log", Usage: "URL of the release log", EnvVars: envVar("log")},
			&cli.StringFlag{Name: "log-key", Usage: "VKEY of the release log", EnvVars: envVar("log-key")},
			&cli.StringSliceFlag{Name: "namespace", Usage: "ECO:NS to watch, e.g. composer:acme or npm:@acme (repeatable)", EnvVars: envVars("watch-namespace", "watch-namespaces")},
			&cli.StringFlag{Name: "state", Usage: "FILE that keeps the position and the namespaces' keys between runs", EnvVars: envVar("watch-state")},
		},
		Action: runLogWatch,
	}
}

// watchState is what a watch keeps between runs: the checkpoint it read up
// to, and the keys each watched namespace has there.
type watchState struct {
	Checkpoint string              `json:"checkpoint"`
	Keys       map[string][]string `json:"keys"` // "eco:ns" → verifier keys
}

type watchedNS struct{ eco, ns string }

func runLogWatch(c *cli.Context) error {
	if err := required(c, "log", "log-key"); err != nil {
		return err
	}
	var watched []watchedNS
	for _, v := range nonEmpty(c.StringSlice("namespace")) {
		eco, ns, ok := strings.Cut(v, ":")
		if !ok || release.ValidateNamespace(eco, ns) != nil {
			return usageError(fmt.Sprintf("--namespace %q: want ECO:NS, e.g. composer:acme or npm:@acme", v), "")
		}
		watched = append(watched, watchedNS{eco, ns})
	}
	if len(watched) == 0 {
		return usageError("missing --namespace", "name at least one ECO:NS to watch")
	}
	v, err := note.NewVerifier(c.String("log-key"))
	if err != nil {
		return usageError("--log-key: "+err.Error(), "")
	}
	u, err := url.Parse(c.String("log"))
	if err != nil {
		return usageError("--log: "+err.Error(), "")
	}
	f, err := client.NewHTTPFetcher(u, &http.Client{Timeout: time.Minute})
	if err != nil {
		return usageError("--log: "+err.Error(), "")
	}
	st := watchState{Keys: map[string][]string{}}
	if p := c.String("state"); p != "" {
		b, err := os.ReadFile(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return checkFailed(err, "")
		default:
			if err := json.Unmarshal(b, &st); err != nil {
				return checkFailed(fmt.Errorf("--state %s: %w", p, err), "the file is sigil log watch's own; delete it to start from the first entry")
			}
		}
	}
	w := &watcher{out: c.App.Writer, state: &st, watched: watched}
	if err := w.run(c.Context, f, v); err != nil {
		return checkFailed(err, "")
	}
	if p := c.String("state"); p != "" {
		b, _ := json.MarshalIndent(st, "", "  ")
		if err := atomicfile.Write(p, append(b, '\n'), 0o644); err != nil {
			return checkFailed(err, "")
		}
	}
	if w.alerts > 0 {
		return checkFailed(fmt.Errorf("%d key event(s) not signed by the namespace's own keys", w.alerts),
			"check with the ecosystem's operators who changed your namespace's keys, and why")
	}
	return nil
}

type watcher struct {
	out     io.Writer
	state   *watchState
	watched []watchedNS
	alerts  int
}

// run proves the latest checkpoint consistent with the stored one, then
// reads, proves and reports every entry after the stored position.
func (w *watcher) run(ctx context.Context, f *client.HTTPFetcher, v note.Verifier) error {
	origin := v.Name()
	fetch := func(ctx context.Context, v note.Verifier, origin string) (*log.Checkpoint, []byte, *note.Note, error) {
		return client.FetchCheckpoint(ctx, f.ReadCheckpoint, v, origin)
	}
	var from uint64
	var stored []byte
	if w.state.Checkpoint != "" {
		stored = []byte(w.state.Checkpoint)
		cp, _, _, err := log.ParseCheckpoint(stored, origin, v)
		if err != nil {
			return fmt.Errorf("the stored checkpoint does not verify: %w", err)
		}
		from = cp.Size
	}
	lst, err := client.NewLogStateTracker(ctx, f.ReadTile, stored, v, origin, fetch)
	if err != nil {
		return fmt.Errorf("reading the log's checkpoint: %w", err)
	}
	if stored != nil {
		if _, _, _, err := lst.Update(ctx); err != nil {
			return fmt.Errorf("the log's checkpoint is not consistent with the stored one (a fork or a rollback; keep the state file as evidence): %w", err)
		}
	}
	cp := lst.Latest()
	raw, err := f.ReadCheckpoint(ctx)
	if err != nil {
		return err
	}
	if c2, _, _, err := log.ParseCheckpoint(raw, origin, v); err != nil || c2.Size != cp.Size || string(c2.Hash) != string(cp.Hash) {
		// The log moved between the two reads: report up to the proven one
		// next time rather than mix them.
		raw = nil
	}
	if cp.Size <= from {
		return nil
	}
	pb, err := client.NewProofBuilder(ctx, cp.Size, f.ReadTile)
	if err != nil {
		return err
	}
	size := func(context.Context) (uint64, error) { return cp.Size, nil }
	for b, err := range client.EntryBundles(ctx, 2, size, f.ReadEntryBundle, from, cp.Size-from) {
		if err != nil {
			return err
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(b.Data); err != nil {
			return fmt.Errorf("entry bundle %d: %w", b.RangeInfo.Index, err)
		}
		first := b.RangeInfo.Index*256 + uint64(b.RangeInfo.First)
		for j, e := range eb.Entries[b.RangeInfo.First : b.RangeInfo.First+b.RangeInfo.N] {
			idx := first + uint64(j)
			p, err := pb.InclusionProof(ctx, idx)
			if err != nil {
				return fmt.Errorf("entry %d: %w", idx, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, cp.Size, rfc6962.DefaultHasher.HashLeaf(e), p, cp.Hash); err != nil {
				return fmt.Errorf("entry %d is not in the checkpoint of size %d: %w", idx, cp.Size, err)
			}
			w.entry(idx, e)
		}
	}
	if raw != nil {
		w.state.Checkpoint = string(raw)
	}
	return nil
}

// entry reports one logged note if it concerns a watched namespace.
func (w *watcher) entry(idx uint64, msg []byte) {
	i := strings.LastIndex(string(msg), "\n\n")
	if i < 0 {
		return
	}
	parsed, err := release.ParseText(msg[:i+1])
	if err != nil {
		return
	}
	switch e := parsed.(type) {
	case *release.KeyEvent:
		if w.watches(e.Ecosystem, governing(e.Namespace)...) {
			w.keyEvent(idx, msg, e)
		}
	case *release.Statement:
		if w.watches(e.Ecosystem, release.Namespaces(e.Ecosystem, e.Package)...) {
			fmt.Fprintf(w.out, "%d statement %s %s %s %s by %s\n", idx, e.Ecosystem, e.Package, e.Version, e.Tree, signers(msg, nil))
		}
	case *release.Observation:
		if w.watches(e.Ecosystem, release.Namespaces(e.Ecosystem, e.Package)...) {
			fmt.Fprintf(w.out, "%d observed %s %s %s %s at %s\n", idx, e.Ecosystem, e.Package, e.Version, e.Tree, e.Observed.Format(release.ObservedTimeFormat))
		}
	}
}

func (w *watcher) watches(eco string, nss ...string) bool {
	for _, x := range w.watched {
		if x.eco == eco && slices.Contains(nss, x.ns) {
			return true
		}
	}
	return false
}

// keyEvent reports a key event, judged against the keys the namespace (and
// the vendor or scope above it) had before it, and applies it.
func (w *watcher) keyEvent(idx uint64, msg []byte, e *release.KeyEvent) {
	var own []string
	for _, ns := range governing(e.Namespace) {
		own = append(own, w.state.Keys[e.Ecosystem+":"+ns]...)
	}
	verdict := "own"
	switch by := signers(msg, own); {
	case len(own) == 0:
		verdict = "first keys of the namespace"
	case !strings.Contains(by, "(own)"):
		verdict = "NOT SIGNED BY THE NAMESPACE'S OWN KEYS"
		w.alerts++
	}
	fmt.Fprintf(w.out, "%d key %s %s %s %s by %s: %s\n", idx, e.Ecosystem, e.Namespace, e.Action, keyID(e.Key), signers(msg, own), verdict)
	k := e.Ecosystem + ":" + e.Namespace
	switch e.Action {
	case release.ActionAdd:
		if !slices.Contains(w.state.Keys[k], e.Key) {
			w.state.Keys[k] = append(w.state.Keys[k], e.Key)
		}
	default:
		w.state.Keys[k] = slices.DeleteFunc(w.state.Keys[k], func(s string) bool { return s == e.Key })
	}
}

// governing is the namespace and, for a package namespace, its vendor or
// scope: the namespaces whose keys may sign its key events.
func governing(ns string) []string {
	if vendor, _, ok := strings.Cut(ns, "/"); ok {
		return []string{ns, vendor}
	}
	return []string{ns}
}

// signers names the signature lines of msg, marking "(own)" those that
// verify with one of own.
func signers(msg []byte, own []string) string {
	var vs []note.Verifier
	for _, k := range own {
		if v, err := note.NewVerifier(k); err == nil {
			vs = append(vs, v)
		}
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	var names []string
	if err == nil {
		for _, s := range n.Sigs {
			names = append(names, fmt.Sprintf("%s+%08x (own)", s.Name, s.Hash))
		}
	}
	var un *note.UnverifiedNoteError
	if errors.As(err, &un) {
		n = un.Note
	}
	if n != nil {
		for _, s := range n.UnverifiedSigs {
			names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
		}
	}
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, ", ")
}

// keyID is a verifier key as NAME+HASH.
func keyID(vkey string) string {
	name, rest, _ := strings.Cut(vkey, "+")
	hash, _, _ := strings.Cut(rest, "+")
	return name + "+" + hash
}
