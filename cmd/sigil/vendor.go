package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/sigilproxy/sigil/internal/atomicfile"
	"github.com/sigilproxy/sigil/release"
	"github.com/sigilproxy/sigil/tlog"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "make a vendor signing key",
		UsageText: "sigil keygen --name NAME --out PREFIX",
		Description: "Writes PREFIX.key (the signer key, mode 0600: keep it secret) and PREFIX.pub\n" +
			"(the verifier key line to publish), and prints the verifier key.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "key name, e.g. acme-release (letters, digits, dots, dashes)", EnvVars: envVar("name")},
			// An output path is named on the command line, as for sign and
			// key (a variable set for one step would redirect another's).
			&cli.StringFlag{Name: "out", Usage: "PREFIX of the files to write"},
		},
		Action: func(c *cli.Context) error {
			if c.String("out") == "" && os.Getenv("SIGIL_OUT") != "" {
				// keygen read --out from SIGIL_OUT before; a setup that
				// relies on it keeps working, and is told.
				c.Set("out", os.Getenv("SIGIL_OUT"))
				fmt.Fprintln(c.App.ErrWriter, "sigil: note: --out taken from SIGIL_OUT, which only keygen reads, for compatibility; pass --out")
			}
			if err := required(c, "name", "out"); err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usageError("keygen takes no arguments", "run 'sigil keygen --help'")
			}
			skey, vkey, err := release.GenerateKey(rand.Reader, c.String("name"))
			if err != nil {
				return usageError(err.Error(), "pick a --name of letters, digits, dots and dashes")
			}
			prefix := c.String("out")
			if err := atomicfile.Create(prefix+".key", []byte(skey+"\n"), 0o600); err != nil {
				if errors.Is(err, atomicfile.ErrExist) {
					return checkFailed(err, "a key is never overwritten: choose another --out or remove the old files yourself")
				}
				return err
			}
			if err := atomicfile.Create(prefix+".pub", []byte(vkey+"\n"), 0o644); err != nil {
				os.Remove(prefix + ".key")
				if errors.Is(err, atomicfile.ErrExist) {
					return checkFailed(err, "choose another --out or remove the old files yourself")
				}
				return err
			}
			fmt.Fprintln(c.App.Writer, vkey)
			return nil
		},
	}
}

func signCommand() *cli.Command {
	return &cli.Command{
		Name:      "sign",
		Usage:     "sign a release statement for an archive",
		UsageText: "sigil sign --key FILE --ecosystem composer|npm --package NAME --version VERSION [--source REF] [--out FILE] (ARCHIVE | --git REF)",
		Description: "Hashes the archive (a Composer zip or an npm .tgz) the way sigil checks it, and\n" +
			"prints (or writes to --out) the signed statement to submit to the release log.\n" +
			"With --git REF, in a git checkout, it hashes 'git archive REF' instead: exactly the\n" +
			"files a zipball of that tag contains, and fills source with the commit.\n" +
			"VERSION is the version string exactly as the registry metadata shows it (v1.2.3).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", Usage: "signer key FILE (from sigil keygen)", EnvVars: signingKeyEnv},
			&cli.StringFlag{Name: "ecosystem", Usage: "composer or npm", EnvVars: envVar("ecosystem")},
			&cli.StringFlag{Name: "package", Usage: "package NAME (acme/foo, @acme/foo)", EnvVars: envVar("package")},
			&cli.StringFlag{Name: "version", Usage: "VERSION exactly as in the registry metadata", EnvVars: envVar("version")},
			&cli.StringFlag{Name: "source", Usage: "VCS commit the release was built from (optional)", EnvVars: envVar("source")},
			&cli.StringFlag{Name: "git", Usage: "sign 'git archive REF' of the current checkout instead of an ARCHIVE (Composer)"},
			&cli.StringFlag{Name: "out", Usage: "write the statement to FILE instead of stdout"},
		},
		Action: runSign,
	}
}

func runSign(c *cli.Context) error {
	if err := required(c, "key", "ecosystem", "package", "version"); err != nil {
		return err
	}
	eco := c.String("ecosystem")
	if eco != release.Composer && eco != release.NPM {
		return usageError(fmt.Sprintf("--ecosystem %q: want composer or npm", eco), "")
	}
	pkg := c.String("package")
	if eco == release.Composer {
		// Composer names are case-insensitive and the registry lowercases
		// them; statements carry the lowercase form.
		pkg = strings.ToLower(pkg)
	}
	if err := release.ValidatePackage(eco, pkg); err != nil {
		return usageError(err.Error(), "")
	}
	gitRef := c.String("git")
	switch {
	case gitRef == "" && c.NArg() != 1:
		return usageError("sign needs one ARCHIVE, or --git REF", "run 'sigil sign --help'")
	case gitRef != "" && c.NArg() != 0:
		return usageError("give either ARCHIVE or --git REF, not both", "")
	case gitRef != "" && eco == release.NPM:
		return usageError("--git is for Composer: an npm tarball is what 'npm pack' makes, not 'git archive'",
			"run 'npm pack' and sign the .tgz it writes")
	}
	skey, err := readSecretFile(c.String("key"))
	if err != nil {
		return err
	}
	signer, err := release.NewSigner(skey)
	if err != nil {
		return checkFailed(fmt.Errorf("%s: %w", c.String("key"), err), "the file must hold one signer key from 'sigil keygen'")
	}

	st := &release.Statement{Ecosystem: eco, Package: pkg, Version: c.String("version"), Source: c.String("source")}
	var info *release.ArchiveInfo
	if gitRef != "" {
		var commit string
		info, commit, err = hashGitRef(c.Context, ".", gitRef)
		if err != nil {
			return err
		}
		if st.Source != "" && st.Source != commit {
			return usageError(fmt.Sprintf("--source %s is not the commit of %s (%s)", st.Source, gitRef, commit), "leave --source out with --git")
		}
		st.Source = commit
		if err := crossCheckGit(c.Context, gitRef, commit, st, info.Manifest); err != nil {
			return err
		}
	} else {
		name := c.Args().First()
		info, err = hashArchiveFile(name, eco)
		if err != nil {
			return err
		}
		if eco == release.NPM {
			if st.Archive, err = integrityOfFile(name); err != nil {
				return err
			}
		}
	}
	if err := finishStatement(st, info); err != nil {
		return err
	}
	text, err := st.Text()
	if err != nil {
		return usageError(err.Error(), "")
	}
	signed, err := release.Sign(text, signer)
	if err != nil {
		return err
	}
	return output(c, signed)
}

// crossCheckGit checks --package and --version against the checkout: the
// name in composer.json at the ref, and the version Composer derives from
// the ref's tag. A wrong name or version would be in the log forever.
func crossCheckGit(ctx context.Context, ref, commit string, st *release.Statement, manifest []byte) error {
	var m struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if manifest == nil {
		return checkFailed(fmt.Errorf("%s has no composer.json at its root", ref), "")
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return checkFailed(fmt.Errorf("composer.json at %s: %w", ref, err), "")
	}
	if strings.ToLower(m.Name) != st.Package {
		return checkFailed(fmt.Errorf("--package %s, but composer.json at %s names %q", st.Package, ref, m.Name),
			"sign the package this checkout is")
	}
	tags := []string{ref}
	if _, err := git(ctx, ".", "rev-parse", "--verify", "--end-of-options", "refs/tags/"+ref); err != nil {
		out, _ := git(ctx, ".", "tag", "--points-at", commit)
		tags = strings.Fields(out)
	}
	var derived []string
	for _, tag := range tags {
		v, _, err := release.ComposerTagVersion(tag, m.Version)
		if err == nil && v == st.Version {
			return nil
		}
		if err == nil {
			derived = append(derived, fmt.Sprintf("%s (tag %s)", v, tag))
		}
	}
	if len(derived) == 0 {
		return checkFailed(fmt.Errorf("--version %s: no version tag at %s", st.Version, ref),
			"sign releases from their tag: sigil sign --git v1.2.3, or sigil release")
	}
	return checkFailed(fmt.Errorf("--version %s does not match %s: Composer will show version %s", st.Version, ref, strings.Join(derived, ", ")),
		"Composer takes the version from the tag as written, \"v\" included")
}

// output writes a signed note to --out, or to stdout.
func output(c *cli.Context, data []byte) error {
	if out := c.String("out"); out != "" {
		return atomicfile.Write(out, data, 0o644)
	}
	_, err := c.App.Writer.Write(data)
	return err
}

func hashArchiveFile(name, eco string) (*release.ArchiveInfo, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, checkFailed(err, "")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, checkFailed(err, "")
	}
	info, err := release.HashArchive(f, fi.Size(), release.ManifestFile(eco), release.DefaultLimits)
	if err != nil {
		return nil, checkFailed(fmt.Errorf("%s: %w", name, err), "")
	}
	return info, nil
}

func integrityOfFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", checkFailed(err, "")
	}
	defer f.Close()
	return release.Integrity(f)
}

// hashGitRef hashes 'git archive REF' of the checkout in dir, streaming,
// and resolves REF to its commit.
func hashGitRef(ctx context.Context, dir, ref string) (*release.ArchiveInfo, string, error) {
	var stderr bytes.Buffer
	rev := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--verify", "--end-of-options", ref+"^{commit}")
	rev.Stderr = &stderr
	out, err := rev.Output()
	if err != nil {
		return nil, "", checkFailed(fmt.Errorf("git cannot resolve %q: %s", ref, strings.TrimSpace(stderr.String())),
			"run sign --git inside the package's git checkout, with a tag or commit that exists")
	}
	commit := strings.TrimSpace(string(out))

	stderr.Reset()
	arch := exec.CommandContext(ctx, "git", "-C", dir, "archive", "--format=tar", commit)
	arch.Stderr = &stderr
	pipe, err := arch.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := arch.Start(); err != nil {
		return nil, "", checkFailed(fmt.Errorf("running git archive: %w", err), "")
	}
	info, hashErr := release.HashTar(pipe, release.ManifestFile(release.Composer), release.DefaultLimits)
	// Drain so git is not killed by a closed pipe before it reports its
	// own error.
	io.Copy(io.Discard, pipe)
	waitErr := arch.Wait()
	if waitErr != nil {
		return nil, "", checkFailed(fmt.Errorf("git archive %s: %v: %s", ref, waitErr, strings.TrimSpace(stderr.String())), "")
	}
	if hashErr != nil {
		return nil, "", checkFailed(fmt.Errorf("git archive %s: %w", ref, hashErr), "")
	}
	return info, commit, nil
}

func keyCommand() *cli.Command {
	action := func(act release.Action) *cli.Command {
		return &cli.Command{
			Name:      string(act),
			Usage:     keyActionUsage[act],
			UsageText: fmt.Sprintf("sigil key %s --key SIGNER_FILE --ecosystem ECO --namespace NS [--out FILE | --log URL] VERIFIER_KEY", act),
			Description: "VERIFIER_KEY is the key line (NAME+HASH+BASE64) or a file holding it (PREFIX.pub).\n" +
				"The event must be signed by a key valid for the namespace, or by the ecosystem's core key.\n" +
				"With --log, the event is submitted to the release log and its index printed.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "key", Usage: "SIGNER_FILE that signs the event", EnvVars: signingKeyEnv},
				&cli.StringFlag{Name: "ecosystem", Usage: "composer or npm", EnvVars: envVar("ecosystem")},
				&cli.StringFlag{Name: "namespace", Usage: "NS: vendor (acme), npm scope (@acme) or one package", EnvVars: envVar("namespace")},
				&cli.StringFlag{Name: "out", Usage: "write the event to FILE instead of stdout"},
				&cli.StringFlag{Name: "log", Usage: "submit the event to the release log at URL"},
			},
			Action: func(c *cli.Context) error { return runKey(c, act) },
		}
	}
	return &cli.Command{
		Name:  "key",
		Usage: "make a signed key event (add, retire or revoke a vendor key)",
		Subcommands: []*cli.Command{
			action(release.ActionAdd), action(release.ActionRetire), action(release.ActionRevoke),
			keyRequestCommand(),
		},
	}
}

var keyActionUsage = map[release.Action]string{
	release.ActionAdd:    "authorize a key to sign releases of a namespace",
	release.ActionRetire: "stop a key from signing new releases; what it signed before stays valid",
	release.ActionRevoke: "declare a key compromised; everything signed only by it becomes invalid",
}

func runKey(c *cli.Context, act release.Action) error {
	if err := required(c, "key", "ecosystem", "namespace"); err != nil {
		return err
	}
	if c.NArg() != 1 {
		return usageError("key "+string(act)+" needs one VERIFIER_KEY", "pass the key line or its .pub file")
	}
	vkey, err := verifierKeyArg(c.Args().First())
	if err != nil {
		return err
	}
	skey, err := readSecretFile(c.String("key"))
	if err != nil {
		return err
	}
	signer, err := release.NewSigner(skey)
	if err != nil {
		return checkFailed(fmt.Errorf("%s: %w", c.String("key"), err), "the file must hold one signer key from 'sigil keygen'")
	}
	ev := &release.KeyEvent{Ecosystem: c.String("ecosystem"), Namespace: c.String("namespace"), Action: act, Key: vkey}
	text, err := ev.Text()
	if err != nil {
		return usageError(err.Error(), "")
	}
	signed, err := release.Sign(text, signer)
	if err != nil {
		return err
	}
	if c.String("log") != "" {
		if c.String("out") != "" {
			return usageError("give --out or --log, not both", "")
		}
		name := fmt.Sprintf("%s %s in %s %s", act, keyName(vkey), ev.Ecosystem, ev.Namespace)
		return submitOne(c, c.String("log"), name, signed)
	}
	return output(c, signed)
}

// submitOne submits one signed note to the log and prints its index.
func submitOne(c *cli.Context, logURL, name string, msg []byte) error {
	u, err := parseLogURL(logURL)
	if err != nil {
		return err
	}
	results := submitNotes(c.Context, &http.Client{Timeout: logAddTimeout}, u.JoinPath(tlog.AddPath).String(), [][]byte{msg})
	return reportSubmitted(c, u, []string{name}, results)
}

// keyName is the NAME of a verifier key line, for messages.
func keyName(vkey string) string {
	name, _, _ := strings.Cut(vkey, "+")
	return name
}

// verifierKeyArg accepts a verifier key line, or the name of a file that
// holds one.
func verifierKeyArg(arg string) (string, error) {
	if _, err := release.NewVerifier(arg); err == nil {
		return arg, nil
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return "", usageError(fmt.Sprintf("%q is neither a verifier key nor a readable file", arg),
			"a verifier key looks like NAME+HASH+BASE64; 'sigil keygen' wrote one to PREFIX.pub")
	}
	key := strings.TrimSpace(string(data))
	if _, err := release.NewVerifier(key); err != nil {
		return "", usageError(fmt.Sprintf("%s: %v", arg, err), "the file must hold one verifier key line")
	}
	return key, nil
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check an archive against a signed statement, offline",
		UsageText: "sigil verify --statement FILE [--vendor-key NS=VKEY ...] ARCHIVE",
		Description: "Checks that the statement is signed by a vendor key trusted for the package's\n" +
			"namespace (--vendor-key, repeatable, or SIGIL_VENDOR_KEYS comma-separated), and\n" +
			"that the archive's files, manifest and (npm) bytes are the ones it names.\n" +
			"Prints \"ok\" and exits 0, or prints the reason and exits 1. Log inclusion is not\n" +
			"checked offline: the proxy checks it.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "statement", Usage: "signed statement FILE", EnvVars: envVar("statement")},
			&cli.StringSliceFlag{Name: "vendor-key", Usage: "trust VKEY for namespace NS (NS=VKEY; repeatable)", EnvVars: envVars("vendor-key", "vendor-keys")},
		},
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	if err := required(c, "statement"); err != nil {
		return err
	}
	if c.NArg() != 1 {
		return usageError("verify needs one ARCHIVE", "run 'sigil verify --help'")
	}
	pins := nonEmpty(c.StringSlice("vendor-key"))
	if len(pins) == 0 {
		return usageError("no vendor key to verify against",
			"pass the vendor's key: --vendor-key acme=\"$(cat acme.pub)\"")
	}
	msg, err := os.ReadFile(c.String("statement"))
	if err != nil {
		return checkFailed(err, "")
	}
	// Parse the text first, unverified, only to learn which package it
	// claims to be about and so which namespaces' keys may sign it.
	claimed, err := parseUnverified(msg)
	if err != nil {
		return checkFailed(fmt.Errorf("statement %s: %w", c.String("statement"), err), "")
	}
	governing := map[string]bool{}
	for _, ns := range release.Namespaces(claimed.Ecosystem, claimed.Package) {
		governing[ns] = true
	}
	var trusted, elsewhere []note.Verifier
	otherNS := map[string]string{}
	for _, p := range pins {
		ns, key, err := splitPin("vendor-key", p)
		if err != nil {
			return err
		}
		v, err := release.NewVerifier(key)
		if err != nil {
			return usageError(fmt.Sprintf("--vendor-key %s: %v", ns, err), "")
		}
		if governing[ns] {
			trusted = append(trusted, v)
		} else {
			elsewhere = append(elsewhere, v)
			otherNS[v.Name()] = ns
		}
	}
	n, err := release.Open(msg, note.VerifierList(trusted...))
	if err != nil {
		// Say whether the signer is a key the user knows, but for another
		// namespace: that is the usual mistake, and a different fix.
		if _, err2 := release.Open(msg, note.VerifierList(elsewhere...)); err2 == nil && len(elsewhere) > 0 {
			signer := signerName(msg)
			return checkFailed(fmt.Errorf("statement for %s is signed by %s, which is trusted for %s, not for %s",
				claimed.Package, signer, otherNS[signer], strings.Join(release.Namespaces(claimed.Ecosystem, claimed.Package), " or ")),
				"a vendor key only vouches for its own namespace")
		}
		return checkFailed(fmt.Errorf("statement %s: %w", c.String("statement"), err), "")
	}
	st, err := release.ParseStatement([]byte(n.Text))
	if err != nil {
		return checkFailed(err, "")
	}
	name := c.Args().First()
	info, err := hashArchiveFile(name, st.Ecosystem)
	if err != nil {
		return err
	}
	if info.Tree != st.Tree {
		return checkFailed(fmt.Errorf("%s: the archive's files differ from the ones signed for %s %s: tree %s, statement says %s",
			name, st.Package, st.Version, info.Tree, st.Tree), "a file was changed, added or removed after signing")
	}
	if info.Manifest == nil {
		return checkFailed(fmt.Errorf("%s: no %s at the archive's root", name, release.ManifestFile(st.Ecosystem)), "")
	}
	got, err := release.ArchiveManifestDigest(st.Ecosystem, info)
	if err != nil {
		return checkFailed(fmt.Errorf("%s: %s: %w", name, release.ManifestFile(st.Ecosystem), err), "")
	}
	if got != st.Manifest {
		return checkFailed(fmt.Errorf("%s: dependencies in %s differ from the signed ones: manifest %s, statement says %s",
			name, release.ManifestFile(st.Ecosystem), got, st.Manifest), "")
	}
	if st.Archive != "" {
		sum, err := integrityOfFile(name)
		if err != nil {
			return err
		}
		if sum != st.Archive {
			return checkFailed(fmt.Errorf("%s: archive bytes differ from the signed ones: %s, statement says %s", name, sum, st.Archive), "")
		}
	}
	fmt.Fprintln(c.App.Writer, "ok")
	return nil
}

// parseUnverified reads the statement text inside a signed note without
// checking any signature.
func parseUnverified(msg []byte) (*release.Statement, error) {
	text, err := unverifiedText(msg)
	if err != nil {
		return nil, err
	}
	return release.ParseStatement(text)
}

// parseUnverifiedText reads the statement or key event inside a signed
// note without checking any signature.
func parseUnverifiedText(msg []byte) (any, error) {
	text, err := unverifiedText(msg)
	if err != nil {
		return nil, err
	}
	return release.ParseText(text)
}

func unverifiedText(msg []byte) ([]byte, error) {
	text, _, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok {
		return nil, errors.New("not a signed note (no blank line before the signatures)")
	}
	return append(text, '\n'), nil
}

// signerName is the key name on the first signature line, for messages.
func signerName(msg []byte) string {
	_, sigs, _ := bytes.Cut(msg, []byte("\n\n"))
	line, _, _ := bytes.Cut(sigs, []byte("\n"))
	f := strings.Fields(strings.TrimPrefix(string(line), "— "))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
