package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/cache"
	"github.com/sigilproxy/sigil/release"
)

// The proxy's memory of a release log: the latest verified checkpoint, the
// verified tiles, and the evidence of security errors. After a SECURITY
// ERROR the proxy refuses the log until an operator, having compared the
// evidence with what others see, resets that memory on purpose.

func logStateFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cache-dir", Usage: "DIR of sigil serve's cache (default: sigil in the user cache directory)", EnvVars: envVar("cache-dir")},
		&cli.StringFlag{Name: "log-key", Usage: "VKEY of the release log (as given to sigil serve)", EnvVars: envVar("log-key")},
	}
}

// logStateCommand is a command that works on the proxy's state of one
// release log, with the cache opened for it and closed after.
func logStateCommand(name, usage, description string, action func(c *cli.Context, st *cache.LogState) error) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		UsageText:   "sigil log " + name + " [--cache-dir DIR] --log-key VKEY",
		Description: description + "\nStop sigil serve first: the cache has one user at a time.",
		Flags:       logStateFlags(),
		Action: func(c *cli.Context) error {
			st, closeStore, err := openLogState(c)
			if err != nil {
				return err
			}
			defer closeStore()
			return action(c, st)
		},
	}
}

func logEvidenceCommand() *cli.Command {
	return logStateCommand("evidence", "print the security errors sigil serve recorded about a release log",
		"Prints each recorded SECURITY ERROR (two checkpoints of the log that cannot both\n"+
			"be true, with the proof), then the ones archived by earlier resets. Exits 1 while\n"+
			"any is recorded: sigil serve refuses the log until 'sigil log reset'.",
		func(c *cli.Context, st *cache.LogState) error {
			current, err := st.SecurityErrors(c.Context)
			if err != nil {
				return checkFailed(err, "")
			}
			archived, err := st.ArchivedSecurityErrors(c.Context)
			if err != nil {
				return checkFailed(err, "")
			}
			w := c.App.Writer
			for _, e := range current {
				fmt.Fprintf(w, "%s\n\n", e)
			}
			for _, e := range archived {
				fmt.Fprintf(w, "archived by a reset:\n%s\n\n", e)
			}
			if len(current) > 0 {
				return &cliError{code: 1, msg: fmt.Sprintf("%d security error(s) recorded: sigil serve refuses this log", len(current)),
					hint: "compare the evidence with other users of the log and its witnesses; then 'sigil log reset' to trust the log's next checkpoint"}
			}
			fmt.Fprintln(w, "no security error recorded")
			return nil
		})
}

func logResetCommand() *cli.Command {
	return logStateCommand("reset", "forget the proxy's checkpoint of a release log after a security error, on purpose",
		"Archives the recorded security errors (still shown by 'sigil log evidence'),\n"+
			"and forgets the stored checkpoint and tiles of that log, so that the next\n"+
			"checkpoint sigil serve verifies becomes its new starting point. Only do this once\n"+
			"you know which history of the log is the true one.",
		func(c *cli.Context, st *cache.LogState) error {
			n, err := st.Reset(c.Context)
			if err != nil {
				return checkFailed(err, "")
			}
			fmt.Fprintf(c.App.Writer, "reset: %d security error(s) archived; the next verified checkpoint is the new starting point\n", n)
			return nil
		})
}

func openLogState(c *cli.Context) (*cache.LogState, func(), error) {
	if c.NArg() > 0 {
		return nil, nil, usageError("no arguments expected", fmt.Sprintf("run '%s --help'", c.Command.HelpName))
	}
	if err := required(c, "log-key"); err != nil {
		return nil, nil, err
	}
	vk, err := release.NewVerifier(c.String("log-key"))
	if err != nil {
		return nil, nil, usageError("--log-key: "+err.Error(), "")
	}
	store, err := openStoppedCache(c)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Log(vk.Name())
	if err != nil {
		store.Close()
		return nil, nil, checkFailed(err, "")
	}
	return st, func() { store.Close() }, nil
}
