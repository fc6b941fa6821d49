package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// composerDefaultRepository asks the machine's Composer for the repository
// it uses by default (its global configuration), so that sigil mirrors what
// the user's Composer already trusts and no registry address is built into
// sigil. It returns "" when Composer is not installed or names none.
func composerDefaultRepository(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "composer", "config", "--global", "--no-interaction", "repositories")
	cmd.Env = append(os.Environ(), "COMPOSER_ALLOW_SUPERUSER=1", "COMPOSER_NO_INTERACTION=1")
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return firstComposerRepository(out)
}

// npmDefaultRegistry asks the machine's npm for the registry it is
// configured with ("" when npm is not installed).
func npmDefaultRegistry(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "npm", "config", "get", "registry").Output()
	if err != nil {
		return ""
	}
	reg := strings.TrimSpace(string(out))
	if !strings.HasPrefix(reg, "http://") && !strings.HasPrefix(reg, "https://") {
		return ""
	}
	return reg
}

// firstComposerRepository picks, from Composer's `repositories` setting, the
// first enabled repository of type composer, by name order for a stable
// answer.
func firstComposerRepository(out []byte) string {
	var repos map[string]json.RawMessage
	if json.Unmarshal(out, &repos) != nil {
		return ""
	}
	names := make([]string, 0, len(repos))
	for n := range repos {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var r struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		}
		// A disabled repository is `false`, which does not decode into
		// the struct.
		if json.Unmarshal(repos[n], &r) == nil && r.Type == "composer" && r.URL != "" {
			return r.URL
		}
	}
	return ""
}
