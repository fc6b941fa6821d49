package front

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sigilproxy/sigil/proxy"
)

// spyBody is an archive body that records whether it was written with
// WriteTo, the path without a buffer.
type spyBody struct {
	*bytes.Reader
	wroteTo bool
}

func (s *spyBody) WriteTo(w io.Writer) (int64, error) {
	s.wroteTo = true
	return s.Reader.WriteTo(w)
}

func TestServeArchive(t *testing.T) {
	data := []byte(strings.Repeat("archive bytes ", 1000))
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name    string
		method  string
		header  map[string]string
		status  int
		body    string
		wroteTo bool
	}{
		{"plain GET", "GET", nil, 200, string(data), true},
		{"HEAD", "HEAD", nil, 200, "", false},
		{"range", "GET", map[string]string{"Range": "bytes=0-6"}, 206, "archive", false},
		{"etag matches", "GET", map[string]string{"If-None-Match": `"` + sha256Hex(data) + `"`}, 304, "", false},
		{"not modified", "GET", map[string]string{"If-Modified-Since": mod.Format(http.TimeFormat)}, 304, "", false},
		{"etag differs", "GET", map[string]string{"If-None-Match": `"other"`}, 200, string(data), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := &spyBody{Reader: bytes.NewReader(data)}
			a := &proxy.Archive{Body: body, Size: int64(len(data)), SHA256: sha256.Sum256(data), ModTime: mod}
			r := httptest.NewRequest(c.method, "/a.tgz", nil)
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			ServeArchive(w, r, a, "application/octet-stream")
			res := w.Result()
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != c.status || string(got) != c.body || body.wroteTo != c.wroteTo {
				t.Errorf("%s: status %d, %d bytes, WriteTo %v; want %d, %d bytes, WriteTo %v",
					c.name, res.StatusCode, len(got), body.wroteTo, c.status, len(c.body), c.wroteTo)
			}
			h := res.Header
			// A 304 carries no Last-Modified (net/http drops it).
			if h.Get("ETag") != `"`+sha256Hex(data)+`"` || h.Get("Cache-Control") != "no-cache" ||
				c.status != 304 && h.Get("Last-Modified") != mod.Format(http.TimeFormat) {
				t.Errorf("%s: headers %v", c.name, h)
			}
			if c.status == 200 && (h.Get("Content-Length") != "14000" || h.Get("Content-Type") != "application/octet-stream") {
				t.Errorf("%s: Content-Length %q, Content-Type %q", c.name, h.Get("Content-Length"), h.Get("Content-Type"))
			}
		})
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
