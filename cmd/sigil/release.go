package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

func releaseCommand() *cli.Command {
	return &cli.Command{
		Name:      "release",
		Usage:     "sign the release at a git tag and put it in the release log, in one step",
		UsageText: "sigil release [--key FILE] [--log URL --log-key VKEY] [--witness VKEY ...] [--dir DIR ...] [--pack] [--resign] [--dry-run] [TAG ...]",
		Description: "Run in a package's git checkout (or name checkouts with --dir, repeatable: a\n" +
			"monorepo split). For each TAG (default: the tag at HEAD) it reads the package name\n" +
			"from composer.json or package.json at that tag, derives the version the registry\n" +
			"will show (Composer: the tag as written, \"v1.2.3\", or composer.json's \"version\",\n" +
			"which must match the tag; npm: package.json's \"version\", which must equal the tag\n" +
			"without its \"v\"), hashes the release, signs it with --key, submits every statement\n" +
			"to the log at once, waits until a published checkpoint covers each, verifies its\n" +
			"inclusion proof against --log-key and prints \"PACKAGE VERSION: index N\". With\n" +
			"--witness (the witnesses your users' sigil lists), that checkpoint must carry their\n" +
			"cosignatures too, so a release is reported only once those users' sigil accepts it.\n\n" +
			"Composer releases are hashed from 'git archive TAG'. npm releases need --pack: the\n" +
			"tarball 'npm pack' makes from the checkout (which must be at TAG) is signed and left\n" +
			"in the checkout, for 'npm publish FILE.tgz'. A checkout with uncommitted changes is\n" +
			"refused. --dry-run prints the statements and submits nothing. --resign, after a key\n" +
			"was revoked, signs releases that are already logged again with the new key (without\n" +
			"TAG: every version tag of the checkout), which makes them valid again.\n\n" +
			"Environment: SIGIL_SIGNING_KEY (the key FILE; SIGIL_KEY, its older name, too), SIGIL_LOG,\n" +
			"SIGIL_LOG_KEY, SIGIL_WITNESS, SIGIL_WITNESS_THRESHOLD.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "signer key FILE (from sigil keygen)", EnvVars: signingKeyEnv},
			&cli.StringFlag{Name: "log", Usage: "URL of the release log", EnvVars: envVar("log")},
			&cli.StringFlag{Name: "log-key", Usage: "the log's verifier key VKEY (or a file holding it), to verify inclusion", EnvVars: envVar("log-key")},
			&cli.StringSliceFlag{Name: "witness", Usage: "VKEY of a witness whose cosignature the proving checkpoint must carry (repeatable)", EnvVars: envVars("witness", "witnesses")},
			&cli.IntFlag{Name: "witness-threshold", Usage: "how many of the witnesses must have cosigned (default: all listed)", EnvVars: envVar("witness-threshold")},
			&cli.StringSliceFlag{Name: "dir", Usage: "checkout DIR (repeatable; default: the current directory)"},
			&cli.StringFlag{Name: "ecosystem", Usage: "composer or npm, when a checkout has both manifests"},
			&cli.BoolFlag{Name: "pack", Usage: "npm: sign the tarball 'npm pack' makes, and leave it for 'npm publish'"},
			&cli.BoolFlag{Name: "resign", Usage: "sign already logged releases again (after a revoke); without TAG, every version tag"},
			&cli.BoolFlag{Name: "dry-run", Usage: "print the statements, submit nothing"},
		},
		Action: runRelease,
	}
}

// releaseItem is one release being made: a tag of a checkout and its
// statement.
type releaseItem struct {
	dir, tag string
	st       *release.Statement
	tarball  string // npm --pack: the tarball left for npm publish
}

func runRelease(c *cli.Context) error {
	dryRun := c.Bool("dry-run")
	if !dryRun {
		if err := required(c, "key", "log", "log-key"); err != nil {
			return err
		}
	}
	dirs := nonEmpty(c.StringSlice("dir"))
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	if c.NArg() > 0 && len(dirs) > 1 {
		return usageError("TAG with several --dir is ambiguous", "run once per checkout with its TAG, or tag every checkout and give no TAG")
	}
	var items []*releaseItem
	for _, dir := range dirs {
		its, err := releaseItems(c, dir)
		if err != nil {
			return err
		}
		items = append(items, its...)
	}
	if dryRun {
		for _, it := range items {
			text, err := it.st.Text()
			if err != nil {
				return checkFailed(err, "")
			}
			fmt.Fprintf(c.App.Writer, "# %s at %s (not submitted)\n%s\n", it.dir, it.tag, text)
		}
		return nil
	}
	return submitReleases(c, items)
}

// releaseItems checks one checkout and returns the releases of its tags.
func releaseItems(c *cli.Context, dir string) ([]*releaseItem, error) {
	if err := checkClean(c.Context, dir, c.Bool("pack")); err != nil {
		return nil, err
	}
	tags := c.Args().Slice()
	var err error
	if len(tags) == 0 {
		if tags, err = defaultTags(c.Context, dir, c.Bool("resign")); err != nil {
			return nil, err
		}
	}
	var items []*releaseItem
	for _, tag := range tags {
		it, err := releaseItemAt(c, dir, tag)
		if err != nil {
			if c.Bool("resign") && c.NArg() == 0 && errors.Is(err, errNotVersionTag) {
				continue // --resign over every tag: tags that are no version are no release
			}
			return nil, err
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, checkFailed(fmt.Errorf("%s: no version tag to release", dir), "tag the release first: git tag v1.2.3")
	}
	return items, nil
}

var errNotVersionTag = errors.New("not a version tag")

func releaseItemAt(c *cli.Context, dir, tag string) (*releaseItem, error) {
	commit, err := git(c.Context, dir, "rev-parse", "--verify", "--end-of-options", "refs/tags/"+tag+"^{commit}")
	if err != nil {
		return nil, checkFailed(fmt.Errorf("%s: no tag %q: %v", dir, tag, err), "list the tags with 'git tag'")
	}
	eco, manifest, err := manifestAt(c.Context, dir, tag, c.String("ecosystem"))
	if err != nil {
		return nil, err
	}
	var m struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, checkFailed(fmt.Errorf("%s: %s at %s: %w", dir, release.ManifestFile(eco), tag, err), "")
	}
	it := &releaseItem{dir: dir, tag: tag, st: &release.Statement{Ecosystem: eco, Package: m.Name}}
	if eco == release.Composer {
		it.st.Package = strings.ToLower(m.Name)
	}
	if err := release.ValidatePackage(eco, it.st.Package); err != nil {
		return nil, checkFailed(fmt.Errorf("%s: %s at %s: name: %w", dir, release.ManifestFile(eco), tag, err), "")
	}
	switch eco {
	case release.Composer:
		v, _, err := release.ComposerTagVersion(tag, m.Version)
		if err != nil {
			return nil, checkFailed(fmt.Errorf("%s: %w: %w", dir, errNotVersionTag, err), "Composer takes the version from the tag: tag releases v1.2.3 or 1.2.3")
		}
		it.st.Version = v
		info, gotCommit, err := hashGitRef(c.Context, dir, commit)
		if err != nil {
			return nil, err
		}
		it.st.Source = gotCommit
		return it, finishStatement(it.st, info)
	default:
		if strings.TrimPrefix(tag, "v") != m.Version || m.Version == "" {
			return nil, checkFailed(fmt.Errorf("%s: %w: tag %s does not match version %q in package.json", dir, errNotVersionTag, tag, m.Version),
				"npm publishes package.json's version: set it to the tag's (npm version does both)")
		}
		it.st.Version = m.Version
		return it, packNPM(c, it, commit)
	}
}

// finishStatement fills tree and manifest from a hashed archive.
func finishStatement(st *release.Statement, info *release.ArchiveInfo) error {
	st.Tree = info.Tree
	if info.Manifest == nil {
		return checkFailed(fmt.Errorf("the archive has no %s at its root", release.ManifestFile(st.Ecosystem)),
			"sign the archive the registry serves for this version")
	}
	var err error
	if st.Manifest, err = release.ArchiveManifestDigest(st.Ecosystem, info); err != nil {
		return checkFailed(fmt.Errorf("%s in the archive: %w", release.ManifestFile(st.Ecosystem), err), "")
	}
	return nil
}

// packNPM runs npm pack in the checkout, which must be at the tag, and
// hashes the tarball it leaves there.
func packNPM(c *cli.Context, it *releaseItem, commit string) error {
	if !c.Bool("pack") {
		return usageError(fmt.Sprintf("%s: an npm release is signed from its tarball: pass --pack", it.dir),
			"sigil release --pack runs 'npm pack' and signs the tarball that 'npm publish' then uploads")
	}
	head, err := git(c.Context, it.dir, "rev-parse", "HEAD")
	if err != nil {
		return checkFailed(err, "")
	}
	if head != commit {
		return checkFailed(fmt.Errorf("%s: HEAD is not at tag %s: npm pack packs the checkout", it.dir, it.tag),
			"git checkout "+it.tag+" first")
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(c.Context, "npm", "pack", "--json", "--ignore-scripts")
	cmd.Dir, cmd.Stderr = it.dir, &stderr
	out, err := cmd.Output()
	if err != nil {
		return checkFailed(fmt.Errorf("%s: npm pack: %v: %s", it.dir, err, strings.TrimSpace(stderr.String())), "")
	}
	var packed []struct {
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(out, &packed); err != nil || len(packed) != 1 || packed[0].Filename == "" {
		return checkFailed(fmt.Errorf("%s: npm pack did not say which file it wrote: %q", it.dir, out), "")
	}
	it.tarball = filepath.Join(it.dir, packed[0].Filename)
	info, err := hashArchiveFile(it.tarball, release.NPM)
	if err != nil {
		return err
	}
	if it.st.Archive, err = integrityOfFile(it.tarball); err != nil {
		return err
	}
	return finishStatement(it.st, info)
}

// manifestAt reads the package manifest at tag and says which ecosystem
// the checkout is.
func manifestAt(ctx context.Context, dir, tag, eco string) (string, []byte, error) {
	found := map[string][]byte{}
	for _, e := range []string{release.Composer, release.NPM} {
		if eco != "" && e != eco {
			continue
		}
		if data, err := gitBytes(ctx, dir, "show", "refs/tags/"+tag+":"+release.ManifestFile(e)); err == nil {
			found[e] = data
		}
	}
	switch len(found) {
	case 0:
		return "", nil, checkFailed(fmt.Errorf("%s: no composer.json or package.json at tag %s", dir, tag), "run sigil release in the package's checkout")
	case 2:
		return "", nil, usageError(fmt.Sprintf("%s has both composer.json and package.json at %s", dir, tag), "say which one with --ecosystem")
	}
	for e, data := range found {
		return e, data, nil
	}
	panic("unreachable")
}

// checkClean refuses a checkout with uncommitted changes: what is signed
// must be what the tag holds, and a tag made from a dirty tree is a
// mistake to fix first. With pack, untracked tarballs at the top (those
// npm pack left) do not count: npm pack does not pack them.
func checkClean(ctx context.Context, dir string, pack bool) error {
	out, err := git(ctx, dir, "status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return checkFailed(fmt.Errorf("%s: %v", dir, err), "run sigil release in a git checkout, or name one with --dir")
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || pack && strings.HasPrefix(l, "?? ") && strings.HasSuffix(l, ".tgz") && !strings.Contains(l[3:], "/") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > 0 {
		if len(lines) > 5 {
			lines = append(lines[:5], "...")
		}
		return checkFailed(fmt.Errorf("%s has uncommitted changes:\n%s", dir, strings.Join(lines, "\n")),
			"commit or stash them, tag the release, and run sigil release again")
	}
	return nil
}

// defaultTags is the tag at HEAD, or with all, every tag.
func defaultTags(ctx context.Context, dir string, all bool) ([]string, error) {
	args := []string{"tag", "--points-at", "HEAD"}
	if all {
		args = []string{"tag", "--list"}
	}
	out, err := git(ctx, dir, args...)
	if err != nil {
		return nil, checkFailed(fmt.Errorf("%s: %v", dir, err), "")
	}
	tags := strings.Fields(out)
	switch {
	case len(tags) == 0 && all:
		return nil, checkFailed(fmt.Errorf("%s has no tags", dir), "")
	case len(tags) == 0:
		return nil, checkFailed(fmt.Errorf("%s: no tag at HEAD", dir), "tag the release (git tag v1.2.3), or name the TAG")
	case len(tags) > 1 && !all:
		return nil, usageError(fmt.Sprintf("%s: several tags at HEAD (%s)", dir, strings.Join(tags, ", ")), "name the TAG to release")
	}
	return tags, nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := gitBytes(ctx, dir, args...)
	return strings.TrimSpace(string(out)), err
}

func gitBytes(ctx context.Context, dir string, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("git %s: %s", args[0], msg)
		}
		return nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	return out, nil
}

// submitReleases signs every statement, submits them together, checks
// each inclusion proof and prints the indices.
func submitReleases(c *cli.Context, items []*releaseItem) error {
	skey, err := readSecretFile(c.String("key"))
	if err != nil {
		return err
	}
	signer, err := release.NewSigner(skey)
	if err != nil {
		return checkFailed(fmt.Errorf("%s: %w", c.String("key"), err), "the file must hold one signer key from 'sigil keygen'")
	}
	logKey, err := verifierKeyArg(c.String("log-key"))
	if err != nil {
		return err
	}
	u, err := parseLogURL(c.String("log"))
	if err != nil {
		return err
	}
	msgs := make([][]byte, len(items))
	names := make([]string, len(items))
	for i, it := range items {
		text, err := it.st.Text()
		if err != nil {
			return checkFailed(err, "")
		}
		if msgs[i], err = release.Sign(text, signer); err != nil {
			return err
		}
		names[i] = it.st.Package + " " + it.st.Version
	}
	client := &http.Client{Timeout: logAddTimeout}
	results := submitNotes(c.Context, client, u.JoinPath(tlog.AddPath).String(), msgs)
	cl, err := tlog.NewClient(tlog.Config{URL: u.String(), LogKey: logKey, HTTPClient: client, Store: &memCheckpoint{},
		Witnesses: nonEmpty(c.StringSlice("witness")), WitnessThreshold: c.Int("witness-threshold")})
	if err != nil {
		return usageError(err.Error(), "check --log-key and --witness")
	}
	lookups := map[string]*tlog.Lookup{}
	for i, r := range results {
		if r.err != nil || !r.sent {
			continue
		}
		st := items[i].st
		lk := lookups[st.Package]
		if lk == nil {
			// One lookup per package, after every add answered: it
			// proves all of that package's new entries at once.
			if lk, err = cl.Lookup(c.Context, st.Ecosystem, st.Package); err != nil {
				results[i].err = fmt.Errorf("verifying inclusion: %w", err)
				continue
			}
			lookups[st.Package] = lk
		}
		if err := included(lk, msgs[i], r.resp.Index, signer); err != nil {
			results[i].err = err
		}
	}
	for i, it := range items {
		if it.tarball != "" && results[i].err == nil {
			fmt.Fprintf(c.App.ErrWriter, "%s: publish %s with: npm publish %s\n", names[i], it.tag, it.tarball)
		}
	}
	return reportSubmitted(c, u, names, results)
}

// included checks that the verified lookup proves the entry at idx to be
// the statement of msg, signed by signer.
func included(lk *tlog.Lookup, msg []byte, idx uint64, signer note.Signer) error {
	text, _ := unverifiedText(msg)
	for _, e := range lk.Entries {
		if e.Index != idx {
			continue
		}
		got, err := unverifiedText(e.Note)
		if err != nil || !bytes.Equal(got, text) || !bytes.Contains(e.Note, msg[len(text)+1:]) {
			return fmt.Errorf("the log's entry %d is not this statement signed by %s", idx, signer.Name())
		}
		return nil
	}
	return fmt.Errorf("the log said index %d, but its lookup (checkpoint size %d) does not prove that entry", idx, lk.Checkpoint.Size)
}

// memCheckpoint is a CheckpointStore for one run: release checks the
// log's answers against its key, and keeps no state between runs.
type memCheckpoint struct {
	mu sync.Mutex
	cp []byte
}

func (m *memCheckpoint) Checkpoint(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cp, nil
}

func (m *memCheckpoint) SwapCheckpoint(_ context.Context, old, new []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !bytes.Equal(old, m.cp) {
		return tlog.ErrCheckpointMoved
	}
	m.cp = new
	return nil
}
func (m *memCheckpoint) RecordSecurityError(_ context.Context, evidence []byte) error {
	return fmt.Errorf("release log misbehaviour: %s", evidence)
}
func (m *memCheckpoint) SecurityErrors(context.Context) ([][]byte, error) { return nil, nil }

var _ tlog.CheckpointStore = (*memCheckpoint)(nil)
