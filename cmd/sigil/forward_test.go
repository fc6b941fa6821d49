package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigilproxy/sigil/proxy"
)

func TestForwardPrefix(t *testing.T) {
	for raw, want := range map[string]string{
		"https://repo.example.test":                    "/",
		"https://repo.example.test/":                   "/",
		"https://repo.example.test/acme":               "/acme",
		"https://repo.example.test/acme/":              "/acme",
		"https://repo.example.test/packages.json":      "/",
		"https://repo.example.test/acme/packages.json": "/acme",
	} {
		u, _ := url.Parse(raw)
		if got := forwardPrefix(u); got != want {
			t.Errorf("forwardPrefix(%s) = %q, want %q", raw, got, want)
		}
	}
}

// fakeFront answers every request with 200 and serves archiveURL only
// when it is "known".
type fakeFront struct{}

func (fakeFront) ServeHTTP(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "doc") }
func (fakeFront) Routes(string) bool                               { return true }
func (fakeFront) ArchiveOrigin(context.Context, string) bool       { return true }
func (fakeFront) ServeArchiveURL(w http.ResponseWriter, _ *http.Request, u string) bool {
	if u != "known" {
		return false
	}
	w.WriteHeader(http.StatusGone)
	return true
}

// Forward mode's fronts count their answers under the mirror's front
// names; an archive URL a front declines is not counted.
func TestCountedFront(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := countedFront{fakeFront{}, "composer", proxy.NewMetrics(reg)}
	r := httptest.NewRequest("GET", "https://repo.example.test/packages.json", nil)
	f.ServeHTTP(httptest.NewRecorder(), r)
	if !f.ServeArchiveURL(httptest.NewRecorder(), r, "known") || f.ServeArchiveURL(httptest.NewRecorder(), r, "other") {
		t.Fatal("ServeArchiveURL does not report what the front did")
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, fam := range families {
		if fam.GetName() != "sigil_requests_total" {
			continue
		}
		for _, m := range fam.GetMetric() {
			s := ""
			for _, l := range m.GetLabel() {
				s += l.GetName() + "=" + l.GetValue() + " "
			}
			got = append(got, fmt.Sprintf("%s%v", s, m.GetCounter().GetValue()))
		}
	}
	want := []string{"code=2xx front=composer 1", "code=4xx front=composer 1"}
	if !slices.Equal(got, want) {
		t.Errorf("sigil_requests_total %q, want %q", got, want)
	}
}
