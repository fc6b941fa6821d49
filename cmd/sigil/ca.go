package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sigilproxy/sigil/certs"
	"github.com/sigilproxy/sigil/internal/atomicfile"
)

func caCommand() *cli.Command {
	// --dir reads SIGIL_CA_DIR, the variable of serve's --ca-dir, so that
	// one setting serves 'ca init', 'ca show' and 'serve'.
	dirFlag := func() cli.Flag {
		return &cli.StringFlag{Name: "dir", Usage: "DIR that holds ca.pem and ca.key", EnvVars: envVar("ca-dir")}
	}
	return &cli.Command{
		Name:  "ca",
		Usage: "the certificate authority of forward (HTTPS_PROXY) mode",
		Description: "In forward mode sigil reads the HTTPS traffic of the hosts it intercepts, with\n" +
			"certificates from its own CA that Composer and npm are told to trust.",
		Subcommands: []*cli.Command{
			{
				Name:      "init",
				Usage:     "make the CA: DIR/ca.key (mode 0600, never printed) and DIR/ca.pem",
				UsageText: "sigil ca init --dir DIR [--host HOST ...]",
				Description: "The CA may mint certificates only for the --host names (each with its\n" +
					"subdomains) and IP addresses: X.509 name constraints that every client checks,\n" +
					"so that even a stolen key cannot impersonate any other site. Name every host\n" +
					"sigil is to intercept: registries and the archive hosts their metadata names.\n" +
					"Default: the hosts of --composer-upstream and --npm-upstream (or of the\n" +
					"repositories the machine's Composer and npm are configured with), plus the\n" +
					"code hosts archives are commonly served from: " + strings.Join(certs.DefaultArchiveHosts, ", ") + ".\n" +
					"A CA is never overwritten. Prints the path of ca.pem.\n" +
					"Environment: SIGIL_CA_DIR, SIGIL_CA_HOSTS (comma-separated).",
				Flags: []cli.Flag{
					dirFlag(),
					&cli.StringSliceFlag{Name: "host", Usage: "HOST the CA may mint for (repeatable; replaces the default list)", EnvVars: envVars("ca-host", "ca-hosts")},
					&cli.StringFlag{Name: "composer-upstream", Usage: "URL of the Composer repository sigil mirrors (its host goes into the default list)", EnvVars: envVar("composer-upstream")},
					&cli.StringFlag{Name: "npm-upstream", Usage: "URL of the npm registry sigil mirrors (its host goes into the default list)", EnvVars: envVar("npm-upstream")},
				},
				Action: runCAInit,
			},
			{
				Name:      "show",
				Usage:     "print the CA certificate and how to make Composer and npm trust it",
				UsageText: "sigil ca show --dir DIR [--bundle FILE]",
				Description: "Checks the CA (key mode, key matches, not expired), prints ca.pem to stdout and\n" +
					"to stderr how to trust it. --bundle FILE writes the system roots plus the CA, for\n" +
					"COMPOSER_CAFILE, which replaces Composer's CA bundle instead of adding to it.\n" +
					"The key is never printed.\n" +
					"Environment: SIGIL_CA_DIR, SIGIL_CA_BUNDLE.",
				Flags: []cli.Flag{
					dirFlag(),
					&cli.StringFlag{Name: "bundle", Usage: "write the system roots plus the CA to FILE (for COMPOSER_CAFILE)", EnvVars: envVar("ca-bundle")},
				},
				Action: runCAShow,
			},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError(fmt.Sprintf("unknown command 'ca %s'", c.Args().First()), "run 'sigil ca --help'")
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

func runCAInit(c *cli.Context) error {
	if c.String("dir") == "" {
		return usageError("missing --dir", "run 'sigil ca init --help' (--dir DIR, or SIGIL_CA_DIR)")
	}
	if c.NArg() > 0 {
		return usageError("ca init takes no arguments", "name hosts with --host HOST")
	}
	hosts := nonEmpty(c.StringSlice("host"))
	if len(hosts) == 0 {
		var err error
		if hosts, err = defaultCAHosts(c); err != nil {
			return err
		}
	}
	if err := certs.CheckHosts(hosts); err != nil {
		return usageError("--host: "+err.Error(), "name the registry and archive hosts sigil intercepts, e.g. --host registry.example.com")
	}
	dir := c.String("dir")
	ca, err := certs.InitCA(dir, certs.Options{Hosts: hosts})
	if err != nil {
		return caError(err)
	}
	certPath := absPath(filepath.Join(dir, certs.CertFile))
	fmt.Fprintln(c.App.Writer, certPath)
	w := c.App.ErrWriter
	describeCA(w, ca)
	fmt.Fprintf(w, "The key is in %s (mode 0600): keep it there, and never copy it to clients.\n", absPath(filepath.Join(dir, certs.KeyFile)))
	fmt.Fprintf(w, "Next: 'sigil ca show --dir %s --bundle FILE' tells how to make Composer and npm trust it.\n", dir)
	return nil
}

func runCAShow(c *cli.Context) error {
	if c.String("dir") == "" {
		return usageError("missing --dir", "run 'sigil ca show --help' (--dir DIR, or SIGIL_CA_DIR)")
	}
	if c.NArg() > 0 {
		return usageError("ca show takes no arguments", "run 'sigil ca show --help'")
	}
	dir := c.String("dir")
	ca, err := certs.LoadCA(dir)
	if err != nil {
		return caError(err)
	}
	bundle := c.String("bundle")
	var rootsFrom string
	if bundle != "" {
		b, err := certs.Bundle(ca)
		if err != nil {
			return caError(err)
		}
		// The bundle holds only public certificates; it is rewritten
		// whenever show runs, to pick up the system's root updates.
		if err := atomicfile.Write(bundle, b, 0o644); err != nil {
			return err
		}
		rootsFrom, _ = certs.SystemRootsFile()
	}
	c.App.Writer.Write(ca.PEM())

	w := c.App.ErrWriter
	describeCA(w, ca)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "# Composer: COMPOSER_CAFILE replaces Composer's CA bundle, so give it the system")
	fmt.Fprintln(w, "# roots plus this CA, as written by --bundle:")
	if bundle != "" {
		fmt.Fprintf(w, "#   (wrote %s: the roots from %s and this CA)\n", bundle, rootsFrom)
		fmt.Fprintf(w, "export COMPOSER_CAFILE=%s\n", absPath(bundle))
	} else {
		fmt.Fprintf(w, "#   sigil ca show --dir %s --bundle FILE\n", dir)
		fmt.Fprintln(w, "export COMPOSER_CAFILE=FILE")
	}
	fmt.Fprintln(w, "# npm: Node adds NODE_EXTRA_CA_CERTS to its own roots:")
	fmt.Fprintf(w, "export NODE_EXTRA_CA_CERTS=%s\n", absPath(filepath.Join(dir, certs.CertFile)))
	fmt.Fprintln(w, "# then send both through sigil ('sigil serve --ca-dir DIR'):")
	fmt.Fprintln(w, "export HTTPS_PROXY=http://127.0.0.1:8780")
	return nil
}

// describeCA prints what the CA is and what it may mint for.
func describeCA(w io.Writer, ca *certs.CA) {
	cert := ca.Certificate()
	fmt.Fprintf(w, "# CA %q (%s), valid until %s\n", cert.Subject.CommonName,
		strings.Join(cert.Subject.OrganizationalUnit, ", "), cert.NotAfter.UTC().Format(time.DateOnly))
	fmt.Fprintf(w, "# may mint certificates for: %s (and their subdomains)\n", strings.Join(ca.Hosts(), ", "))
}

// caError gives a CA problem its hint.
func caError(err error) error {
	var ce *certs.Error
	if errors.As(err, &ce) {
		return checkFailed(err, ce.Hint)
	}
	return err
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// defaultCAHosts are the hosts of the configured upstreams, or of the
// repositories the machine's Composer and npm use, plus the code hosts
// archives are commonly served from.
func defaultCAHosts(c *cli.Context) ([]string, error) {
	var hosts []string
	// Only the hosts are wanted here: what serve would log about them is not.
	quiet := slog.New(slog.DiscardHandler)
	for _, src := range []upstreamSource{composerSource, npmSource} {
		u, err := upstreamURL(c, src, quiet, nil)
		if err != nil {
			return nil, err
		}
		if u != nil && !slices.Contains(hosts, u.Hostname()) {
			hosts = append(hosts, u.Hostname())
		}
	}
	if len(hosts) == 0 {
		return nil, usageError("no registry host is known for the CA to mint for",
			"name them with --host, or set --composer-upstream / --npm-upstream (SIGIL_COMPOSER_UPSTREAM, SIGIL_NPM_UPSTREAM)")
	}
	return append(hosts, certs.DefaultArchiveHosts...), nil
}
