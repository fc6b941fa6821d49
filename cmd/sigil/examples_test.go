package main

import (
	"os"
	"regexp"
	"testing"
)

// TestExamplesUseKnownVariables keeps examples/ true to the code: every
// SIGIL_* variable an example sets must be one that sigil serve reads.
func TestExamplesUseKnownVariables(t *testing.T) {
	known := map[string]bool{}
	for _, f := range serveCommand().Flags {
		if ev, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, v := range ev.GetEnvVars() {
				known[v] = true
			}
		}
	}
	re := regexp.MustCompile(`\b(SIGIL_[A-Z_]+)\s*[:=]`)
	for _, file := range []string{"../../examples/systemd/sigil.env", "../../examples/ci/github-actions.yml", "../../examples/systemd/sigil.service"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, m := range re.FindAllSubmatch(data, -1) {
			found++
			if name := string(m[1]); !known[name] {
				t.Errorf("%s sets %s, which sigil serve does not read", file, name)
			}
		}
		if found == 0 {
			t.Errorf("%s sets no SIGIL_* variable", file)
		}
	}
}

// TestSignReleaseExampleUsesKnownVariables: the signing workflow sets only
// variables sigil release reads.
func TestSignReleaseExampleUsesKnownVariables(t *testing.T) {
	known := map[string]bool{}
	for _, f := range releaseCommand().Flags {
		if ev, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, v := range ev.GetEnvVars() {
				known[v] = true
			}
		}
	}
	data, err := os.ReadFile("../../examples/ci/sign-release.yml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\b(SIGIL_[A-Z_]+)\s*:`)
	found := re.FindAllSubmatch(data, -1)
	for _, m := range found {
		if !known[string(m[1])] {
			t.Errorf("sign-release.yml sets %s, which sigil release does not read", m[1])
		}
	}
	if len(found) != 3 {
		t.Errorf("sign-release.yml sets %d SIGIL_* variables; want the key, the log and its key", len(found))
	}
}
