package release

import (
	"strings"
	"testing"
	"time"
)

const lObserved = "observed 2026-01-02T03:04:05Z"

func TestObservationRoundTrip(t *testing.T) {
	for _, text := range []string{
		lines(observationHeader, "ecosystem npm", "package @acme/foo", lVer, lTree, lManifest, lArchive, "source abc", lObserved),
		lines(observationHeader, lEco, lPkg, lVer, lTree, lManifest, lObserved),
	} {
		o, err := ParseObservation([]byte(text))
		if err != nil {
			t.Fatalf("ParseObservation(%q): %v", text, err)
		}
		if !o.Observed.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("observed = %v", o.Observed)
		}
		out, err := o.Text()
		if err != nil || string(out) != text {
			t.Errorf("Text() = %q, %v; want %q", out, err, text)
		}
		if p, err := ParseText([]byte(text)); err != nil || p.(*Observation).Version != o.Version {
			t.Errorf("ParseText: %v, %v", p, err)
		}
	}
}

func TestObservationRefused(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{lines(observationHeader, lEco, lPkg, lVer, lTree, lManifest, lArchive, lObserved), "no archive digest"},
		{lines(observationHeader, "ecosystem npm", "package foo", lVer, lTree, lManifest, lObserved), "sha512"},
		{lines(observationHeader, lEco, lPkg, lVer, lTree, lManifest, "observed 2026-01-02T03:04:05+01:00"), "observed"},
		{lines(observationHeader, lEco, lPkg, lVer, lTree, lManifest, "observed 2026-01-02T03:04:05.5Z"), "observed"},
		{lines(observationHeader, lEco, lPkg, lVer, lTree, lManifest), `missing "observed"`},
		{lines(observationHeader, lEco, lPkg, lVer, lManifest, lTree, lObserved), "missing \"tree\""},
	} {
		_, err := ParseObservation([]byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseObservation(%q) = %v, want an error containing %q", c.text, err, c.want)
		}
	}
}

func FuzzParseObservation(f *testing.F) {
	f.Add([]byte(lines(observationHeader, "ecosystem npm", "package @acme/foo", lVer, lTree, lManifest, lArchive, "source abc", lObserved)))
	f.Add([]byte(lines(observationHeader, lEco, lPkg, lVer, lTree, lManifest, lObserved)))
	f.Fuzz(func(t *testing.T, text []byte) {
		o, err := ParseObservation(text)
		if err != nil {
			return
		}
		out, err := o.Text()
		if err != nil {
			t.Fatalf("Text() of parsed %q: %v", text, err)
		}
		if string(out) != string(text) {
			t.Fatalf("round trip: got %q, want %q", out, text)
		}
	})
}
