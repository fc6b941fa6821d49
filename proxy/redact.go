package proxy

import (
	"net/url"
	"strings"
)

// RedactURL is raw as sigil writes it into logs and error messages: its
// query and fragment replaced by "?…", and no user information. A query
// may carry a token (a signed archive URL, a private registry's
// credentials), and logs and a client's output are read by more people
// than the token was meant for; the host and path say which URL it was.
func RedactURL(raw string) string {
	rest, _, cutQ := strings.Cut(raw, "?")
	rest, _, cutF := strings.Cut(rest, "#")
	if u, err := url.Parse(rest); err == nil && u.User != nil {
		u.User = nil
		rest = u.String()
	} else if err != nil {
		// Not a URL: whatever precedes an "@" may be credentials.
		if i := strings.LastIndexByte(rest, '@'); i >= 0 {
			rest = "…" + rest[i:]
		}
	}
	if cutQ || cutF {
		rest += "?…"
	}
	return rest
}
