package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// load measures the latency of GET u over conns keep-alive connections,
// each with one request in flight, for d after a warm-up of a tenth of d,
// and prints "p50-ms p99-ms requests-per-second". A request is timed from
// its write to the last byte of its answer. It sends what Composer's curl
// sends that matters to a server (Accept-Encoding: gzip), and it reads
// answers with as little work as it can, so that most of the CPU it is
// given goes to the server; an answer that is not a 200 with a
// Content-Length stops it.
func load(u string, conns int, d time.Duration) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	if pu.Scheme != "http" {
		return fmt.Errorf("load: %s: only http URLs", u)
	}
	req := []byte("GET " + pu.RequestURI() + " HTTP/1.1\r\nHost: " + pu.Host +
		"\r\nUser-Agent: benchfixture\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n\r\n")
	warm := time.Now().Add(d / 10)
	end := warm.Add(d)
	lats := make([][]time.Duration, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lats[i], errs[i] = loadConn(pu.Host, req, warm, end)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	all := slices.Concat(lats...)
	if len(all) == 0 {
		return errors.New("load: no request finished")
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1e6 }
	fmt.Printf("%.2f %.2f %.0f\n", pct(0.50), pct(0.99), float64(len(all))/d.Seconds())
	return nil
}

// loadConn sends req over one connection to addr, one at a time, until
// end, and returns the latencies of the requests started after warm.
func loadConn(addr string, req []byte, warm, end time.Time) ([]time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	tp := textproto.NewReader(br)
	lat := make([]time.Duration, 0, 1<<16)
	for {
		start := time.Now()
		if start.After(end) {
			return lat, nil
		}
		if _, err := c.Write(req); err != nil {
			return nil, err
		}
		status, err := tp.ReadLine()
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(status, "HTTP/1.1 200 ") {
			return nil, fmt.Errorf("load: answer %q", status)
		}
		hdr, err := tp.ReadMIMEHeader()
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("load: an answer without a Content-Length")
		}
		if _, err := br.Discard(int(n)); err != nil {
			return nil, fmt.Errorf("load: %w", noEOF(err))
		}
		if start.After(warm) {
			lat = append(lat, time.Since(start))
		}
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
