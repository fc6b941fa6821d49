package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// envVar is the environment variable that sets a flag: SIGIL_ and the flag
// name in capitals with dashes as underscores (--witness-threshold is
// SIGIL_WITNESS_THRESHOLD).
func envVar(flag string) []string {
	return []string{"SIGIL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// signingKeyEnv are the variables of a vendor's signer key FILE, the same
// for sign, key and release: SIGIL_SIGNING_KEY, and SIGIL_KEY, which sign
// and key read before release did, so that setups made for them keep
// working. The first one set wins.
var signingKeyEnv = []string{"SIGIL_SIGNING_KEY", "SIGIL_KEY"}

// envVars is envVar plus a plural form for repeatable flags, which take a
// comma-separated list (--vendor-key also from SIGIL_VENDOR_KEYS).
func envVars(flag, plural string) []string {
	return append(envVar(flag), "SIGIL_"+strings.ToUpper(strings.ReplaceAll(plural, "-", "_")))
}

// required returns a usage error naming the flag when it is empty.
func required(c *cli.Context, names ...string) error {
	for _, n := range names {
		if c.String(n) == "" {
			return usageError(fmt.Sprintf("missing --%s", n),
				fmt.Sprintf("run '%s --help'", c.Command.HelpName))
		}
	}
	return nil
}

// readSecretFile reads a key file. Secrets are only ever read from files,
// never from flags or the environment, where they leak into process lists
// and CI logs.
func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", checkFailed(fmt.Errorf("reading key: %w", err), "make one with 'sigil keygen --name NAME --out PREFIX'")
	}
	return strings.TrimSpace(string(data)), nil
}

// splitPin parses NS=VKEY.
func splitPin(flag, v string) (ns, key string, err error) {
	ns, key, ok := strings.Cut(strings.TrimSpace(v), "=")
	if !ok || ns == "" || key == "" {
		return "", "", usageError(fmt.Sprintf("--%s %q: want NAMESPACE=VERIFIER_KEY", flag, v),
			"for example --vendor-key acme=acme-release+1a2b3c4d+AW...")
	}
	return ns, key, nil
}

// nonEmpty drops blank entries of a repeatable flag: an empty environment
// variable (SIGIL_VENDOR_KEYS=) means none, not one empty value.
func nonEmpty(vals []string) []string {
	var out []string
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
