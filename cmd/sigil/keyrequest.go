package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/release"
)

func keyRequestCommand() *cli.Command {
	return &cli.Command{
		Name:      "request",
		Usage:     "print what to send to the ecosystem's core-key holder to register a first key",
		UsageText: "sigil key request --namespace NS [--ecosystem ECO] [--log URL] VERIFIER_KEY",
		Description: "A namespace's first key is added by the ecosystem's core key. This prints the\n" +
			"request to send to its holder (by a channel that shows it comes from you, such as\n" +
			"the registry account that owns the namespace) and the command they run. Later keys\n" +
			"you add yourself, with a key you already have. ECO defaults to npm for an @scope\n" +
			"and to composer otherwise.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "namespace", Usage: "NS: vendor (acme), npm scope (@acme) or one package"},
			&cli.StringFlag{Name: "ecosystem", Usage: "composer or npm"},
			&cli.StringFlag{Name: "log", Usage: "URL of the release log the key goes to", EnvVars: envVar("log")},
		},
		Action: runKeyRequest,
	}
}

func runKeyRequest(c *cli.Context) error {
	if err := required(c, "namespace"); err != nil {
		return err
	}
	if c.NArg() != 1 {
		return usageError("key request needs one VERIFIER_KEY", "pass your PREFIX.pub from sigil keygen")
	}
	vkey, err := verifierKeyArg(c.Args().First())
	if err != nil {
		return err
	}
	ns, eco := c.String("namespace"), c.String("ecosystem")
	if eco == "" {
		eco = release.Composer
		if strings.HasPrefix(ns, "@") {
			eco = release.NPM
		}
	}
	if err := release.ValidateNamespace(eco, ns); err != nil {
		return usageError(err.Error(), "")
	}
	logURL := c.String("log")
	if logURL == "" {
		logURL = "LOG_URL"
	}
	fmt.Fprintf(c.App.Writer, `Send this to the %[1]s core-key holder of the release log %[4]s:

  Please add my release key to the %[1]s namespace %[2]s.
  namespace: %[2]s
  key: %[3]s

They check that the request comes from the owner of %[2]s, then run:

  sigil key add --key CORE.key --ecosystem %[1]s --namespace %[2]s --log %[4]s '%[3]s'

Once it is logged, sign your releases with 'sigil release' in your checkout.
`, eco, ns, vkey, logURL)
	return nil
}
