package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/proxy/auth"
)

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "client tokens of a shared mirror (serve --auth-tokens)",
		Subcommands: []*cli.Command{{
			Name:      "add",
			Usage:     "make a client token: print it, and append its hash to FILE",
			UsageText: "sigil token add --file FILE --name NAME",
			Description: "Prints a new random token on stdout, once: the file keeps only its sha256,\n" +
				"under NAME, so nobody can read a token back out of it. FILE is created if\n" +
				"needed and replaced atomically, with mode 0600. A running 'sigil serve\n" +
				"--auth-tokens FILE' takes the new token within seconds, without a restart.\n" +
				"To withdraw a token, delete its line.\n" +
				"Environment: SIGIL_AUTH_TOKENS (the file, as for serve).",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "file", Usage: "FILE of token hashes (serve's --auth-tokens)", EnvVars: envVar("auth-tokens")},
				&cli.StringFlag{Name: "name", Usage: "NAME of the token, to tell tokens apart (letters, digits, ._@+-)"},
			},
			Action: runTokenAdd,
		}},
	}
}

func runTokenAdd(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageError("token add takes no arguments", "run 'sigil token add --help'")
	}
	if err := required(c, "file", "name"); err != nil {
		return err
	}
	file, name := c.String("file"), c.String("name")
	token, err := auth.Add(file, name)
	switch {
	case errors.Is(err, auth.ErrNameTaken):
		return usageError(err.Error(), "pick another --name, or delete the old line from the file first")
	case err != nil && errors.Is(err, auth.ErrBadName):
		return usageError(err.Error(), "")
	case err != nil:
		return checkFailed(err, "the file must hold only lines 'NAME sha256:HEX' that 'sigil token add' wrote")
	}
	fmt.Fprintln(c.App.Writer, token)
	fmt.Fprintf(c.App.ErrWriter, "added token %q to %s; it is shown only now.\n"+
		"Composer: composer config --global bearer.HOST TOKEN (or http-basic.HOST with the token as password)\n"+
		"npm: npm config set //HOST:PORT/npm/:_authToken TOKEN\n", name, file)
	return nil
}
