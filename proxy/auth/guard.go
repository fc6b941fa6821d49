package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// recheckEvery is how often the token file's size and time are looked at
// again: often enough that a new token works within seconds, rarely
// enough that a busy mirror does not stat the file on every request.
const recheckEvery = 2 * time.Second

// Guard checks client tokens against a token file. Create it with Load.
type Guard struct {
	path string
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	entries []entry
	stamp   fileStamp
	checked time.Time
}

// fileStamp tells whether a file changed since it was read.
type fileStamp struct {
	size    int64
	modTime time.Time
}

func stampOf(fi os.FileInfo) fileStamp { return fileStamp{fi.Size(), fi.ModTime()} }

// Load reads the token file at path. A file that does not parse, or that
// group or others may write, is an error; so is one with no token in it,
// which would lock every client out.
func Load(path string, logger *slog.Logger) (*Guard, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	entries, err := readFile(path)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("token file %s holds no token: every client would be refused", path)
	}
	return &Guard{path: path, log: logger, now: time.Now, entries: entries, stamp: stampOf(fi), checked: time.Now()}, nil
}

// Len is the number of tokens in force.
func (g *Guard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.entries)
}

// current returns the tokens in force, reading the file again when it
// changed.
func (g *Guard) current() []entry {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if now.Sub(g.checked) < recheckEvery {
		return g.entries
	}
	g.checked = now
	fi, err := os.Stat(g.path)
	if err != nil {
		g.log.Error("token file unreadable; the tokens read before stay in force", "file", g.path, "err", err)
		return g.entries
	}
	if stampOf(fi) == g.stamp {
		return g.entries
	}
	entries, err := readFile(g.path)
	if err != nil {
		g.log.Error("token file changed but cannot be used; the tokens read before stay in force", "err", err)
		return g.entries
	}
	g.entries, g.stamp = entries, stampOf(fi)
	g.log.Info("token file read again", "file", g.path, "tokens", len(entries))
	return g.entries
}

// Credential is the token a client sent in header h ("Authorization" or
// "Proxy-Authorization"): a Bearer token, or the password of Basic
// credentials. False when there is none.
func Credential(hdr http.Header, h string) (string, bool) {
	v := hdr.Get(h)
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return rest, rest != ""
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		_, pass, ok := strings.Cut(string(raw), ":")
		return pass, ok && pass != ""
	}
	return "", false
}

// Handler lets through to next only requests with a valid token, and
// requests for which open reports true (sigil's health check). A proxy
// request (CONNECT, or an absolute URL: forward mode) carries its token in
// Proxy-Authorization and is refused with 407; any other request carries
// it in Authorization and is refused with 401.
func (g *Guard) Handler(next http.Handler, open func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied := r.Method == http.MethodConnect || r.URL.IsAbs()
		header := "Authorization"
		if proxied {
			header = "Proxy-Authorization"
		}
		if !proxied && open != nil && open(r) {
			next.ServeHTTP(w, r)
			return
		}
		token, sent := Credential(r.Header, header)
		name, ok := "", false
		if sent {
			name, ok = match(g.current(), token)
		}
		if !ok {
			refuse(w, proxied, sent)
			return
		}
		g.log.Debug("client token accepted", "name", name)
		// Ours, not the upstream's: no front may pass it on.
		r.Header.Del(header)
		next.ServeHTTP(w, r)
	})
}

// refuse answers a request without a valid token. The body is JSON with an
// "error" member, which npm prints; Composer prints its own message for a
// 401 and names the URL.
func refuse(w http.ResponseWriter, proxied, sent bool) {
	msg := "sigil: this mirror needs a client token, and the request carried none"
	if sent {
		msg = "sigil: the client token sent is not valid for this mirror"
	}
	status := http.StatusUnauthorized
	if proxied {
		status = http.StatusProxyAuthRequired
		w.Header().Set("Proxy-Authenticate", `Basic realm="sigil"`)
		msg += " (put it in the proxy URL as the password: http://NAME:TOKEN@HOST:PORT)"
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sigil"`)
		msg += " (Composer: auth.json \"bearer\" or \"http-basic\" with the token as password; npm: _authToken in .npmrc)"
	}
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
