// Command sigil is an install proxy for Composer and npm that serves only
// what verifies against vendor signatures and a witnessed release log, and
// the tools vendors use to sign releases and run that log.
//
// Every flag can also be set through an environment variable SIGIL_<FLAG>,
// so that CI runners need nothing but their environment. Errors are printed
// to stderr as "sigil: <what>" with a "hint:" line where there is a next
// step. The exit status is 0 on success, 1 when a check failed and 2 for bad
// usage.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run is main without the process exit, so that tests can drive the whole
// command line in-process as well as through the built binary.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.Run(args)
	if err == nil {
		return 0
	}
	return report(stderr, err)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "sigil",
		Usage:     "install proxy that serves only signed, logged releases",
		Writer:    stdout,
		ErrWriter: stderr,
		// The exit code is decided by report, in one place.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError(err.Error(), "run 'sigil --help' for the commands and their flags")
		},
		Commands: commands(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError(fmt.Sprintf("unknown command %q", c.Args().First()), "run 'sigil --help' for the list of commands")
			}
			return cli.ShowAppHelp(c)
		},
	}
	for _, c := range app.Commands {
		setUsageErrors(c, "sigil")
	}
	return app
}

// setUsageErrors makes flag errors of every subcommand exit 2 with a hint
// that names the command's own help. It also records the full command path
// in HelpName, which urfave/cli leaves without the parent commands.
func setUsageErrors(c *cli.Command, parent string) {
	path := parent + " " + c.Name
	if parent != "sigil" {
		// urfave/cli prefixes a top-level command's HelpName with the
		// app's name itself.
		c.HelpName = path
	}
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return usageError(err.Error(), fmt.Sprintf("run '%s --help'", path))
	}
	for _, sub := range c.Subcommands {
		setUsageErrors(sub, path)
	}
}

// cliError is an error meant for the person at the terminal: a message, an
// optional hint, and the exit status.
type cliError struct {
	code int
	msg  string
	hint string
	err  error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// usageError reports bad usage (exit 2).
func usageError(msg, hint string) error {
	return &cliError{code: 2, msg: msg, hint: hint}
}

// checkFailed reports a failed check (exit 1): a signature that does not
// verify, an archive that does not match, a refused note.
func checkFailed(err error, hint string) error {
	return &cliError{code: 1, msg: err.Error(), hint: hint, err: err}
}

// report prints err in the sigil format and returns the exit status.
func report(w io.Writer, err error) int {
	var ce *cliError
	if errors.As(err, &ce) {
		fmt.Fprintf(w, "sigil: %s\n", ce.msg)
		if ce.hint != "" {
			fmt.Fprintf(w, "hint: %s\n", ce.hint)
		}
		return ce.code
	}
	var ee cli.ExitCoder
	if errors.As(err, &ee) {
		fmt.Fprintf(w, "sigil: %s\n", err)
		return ee.ExitCode()
	}
	// Anything else is an operational failure (I/O, a refused request):
	// the check did not pass.
	fmt.Fprintf(w, "sigil: %s\n", err)
	return 1
}
