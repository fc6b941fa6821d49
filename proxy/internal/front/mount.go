package front

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// IsHTTP reports whether u is an absolute http or https URL without user
// information: the only URLs a front fetches, learns or serves.
func IsHTTP(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// Prefix checks a configured mount prefix: "" is def, "/" the root
// (returned as ""), anything else must start and not end with "/" and
// hold no "?", "#" or "%".
func Prefix(p, def string) (string, error) {
	switch {
	case p == "":
		return def, nil
	case p == "/":
		return "", nil
	case !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "?#%"):
		return "", fmt.Errorf("Prefix %q must start and not end with \"/\"", p)
	}
	return p, nil
}

// PublicURL checks a configured public base URL, which must be a scheme
// and host only, and returns it as such; nil for "".
func PublicURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil || !IsHTTP(u) || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("PublicURL %q must be a scheme and host, like http://127.0.0.1:8780", s)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// Path returns the escaped request path p below prefix, which starts with
// "/", or false when p is not under prefix.
func Path(p, prefix string) (string, bool) {
	p, ok := strings.CutPrefix(p, prefix)
	return p, ok && strings.HasPrefix(p, "/")
}

// Base returns the scheme and host that absolute URLs in served documents
// start with: public when set, else the request's. The Host header then
// becomes part of served URLs (never of a key stored on disk), so only a
// plain host[:port] is accepted; false otherwise.
func Base(public *url.URL, r *http.Request) (string, bool) {
	if public != nil {
		return public.String(), true
	}
	if !hostRE.MatchString(r.Host) {
		return "", false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host, true
}

var hostRE = regexp.MustCompile(`^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?$`)
