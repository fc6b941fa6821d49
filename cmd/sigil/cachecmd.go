package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/proxy"
)

// Commands on the state sigil serve keeps in its cache directory, for an
// operator who has decided to forget part of it. They open the cache
// themselves, so sigil serve must be stopped.

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name:  "cache",
		Usage: "forget part of what sigil serve remembers (with sigil serve stopped)",
		Subcommands: []*cli.Command{
			{
				// The npm front names this command when the registry's
				// keys differ from the pins (proxy/npm/regsig.go).
				Name:      "reset-registry-keys",
				Usage:     "forget the npm registry signing keys sigil pinned on first use, after a rotation you have checked",
				UsageText: "sigil cache reset-registry-keys [--cache-dir DIR]",
				Description: "sigil serve pins the signing keys an npm registry publishes (/-/npm/v1/keys) the\n" +
					"first time it reads them. When the registry rotates its keys, every version then\n" +
					"warns (or, with --npm-registry-signatures require, fails) that the keys differ from\n" +
					"the pins. Once you have checked the rotation, this forgets the pins of every npm\n" +
					"registry in the cache and prints what it forgot; sigil serve pins the keys it reads\n" +
					"next. Nothing else is forgotten: packages' first-seen pins, the release log's\n" +
					"checkpoints and the cached archives stay.\n" +
					"Stop sigil serve first: the cache has one user at a time.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "cache-dir", Usage: "DIR of sigil serve's cache (default: sigil in the user cache directory)", EnvVars: envVar("cache-dir")},
				},
				Action: runResetRegistryKeys,
			},
		},
	}
}

func runResetRegistryKeys(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError("no arguments expected", fmt.Sprintf("run '%s --help'", c.Command.HelpName))
	}
	store, err := openStoppedCache(c)
	if err != nil {
		return err
	}
	defer store.Close()
	reset, err := store.ResetNPMKeys(c.Context)
	if err != nil {
		return checkFailed(err, "")
	}
	w := c.App.Writer
	if len(reset) == 0 {
		fmt.Fprintln(w, "no npm registry signing key was pinned: nothing to reset")
		return nil
	}
	for _, r := range reset {
		ids := slices.Sorted(maps.Keys(r.Keys))
		fmt.Fprintf(w, "reset: forgot %d pinned signing key(s) of npm registry %s: %s\n",
			len(ids), proxy.RedactURL(r.Registry), strings.Join(ids, ", "))
	}
	fmt.Fprintln(w, "sigil serve pins the registry's keys afresh when it next reads them")
	return nil
}

// openStoppedCache opens the cache directory of a sigil serve that is not
// running, for a command that changes or reads its state.
func openStoppedCache(c *cli.Context) (*cache.Store, error) {
	dir := c.String("cache-dir")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, usageError("no user cache directory: "+err.Error(), "set --cache-dir")
		}
		dir = filepath.Join(base, "sigil")
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, checkFailed(fmt.Errorf("cache directory: %w", err), "give the --cache-dir sigil serve uses")
	}
	store, err := cache.Open(dir, cache.Options{})
	if err != nil && strings.Contains(err.Error(), "directory lock") {
		// Badger's lock: a sigil serve (or another command) has it open.
		return nil, &cliError{code: 1, msg: fmt.Sprintf("the cache in %s is in use: sigil serve (or another sigil) is running on it", dir),
			hint: "stop sigil serve first, run this again, then start sigil serve", err: err}
	}
	if err != nil {
		return nil, checkFailed(fmt.Errorf("opening the cache in %s: %w", dir, err),
			"is sigil serve running on this cache? stop it first: the cache has one user at a time")
	}
	return store, nil
}
