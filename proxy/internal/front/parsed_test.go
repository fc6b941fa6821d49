package front

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// parseLen is a parse of body: its length, and how often it ran.
func parseLen(body []byte, size int64, calls *atomic.Int32) func() (int, int64, error) {
	return func() (int, int64, error) {
		calls.Add(1)
		return len(body), size, nil
	}
}

func TestParsedKeysByBytesAndVariant(t *testing.T) {
	p := NewParsed[int](8, 1<<20)
	var calls atomic.Int32
	get := func(body, variant string) int {
		t.Helper()
		b := []byte(body)
		v, err := p.Get(b, variant, parseLen(b, 10, &calls))
		if err != nil || v != len(body) {
			t.Fatalf("%q %q: %v %v", body, variant, v, err)
		}
		return v
	}
	get("doc", "a")
	get("doc", "a") // the same bytes, another copy of them: kept
	if calls.Load() != 1 {
		t.Errorf("parsed %d times, want once", calls.Load())
	}
	get("doc", "b")  // another variant
	get("doc2", "a") // other bytes
	if calls.Load() != 3 || p.Len() != 3 {
		t.Errorf("%d parses, %d kept; want 3 and 3", calls.Load(), p.Len())
	}
	// The variant is not confused with the bytes.
	get("doc\x00", "a")
	get("doc", "\x00a")
	if calls.Load() != 5 {
		t.Errorf("%d parses, want 5", calls.Load())
	}
}

func TestParsedErrorsNotKept(t *testing.T) {
	p := NewParsed[int](8, 1<<20)
	calls := 0
	bad := errors.New("malformed")
	for range 2 {
		if _, err := p.Get([]byte("x"), "", func() (int, int64, error) { calls++; return 0, 1, bad }); err != bad {
			t.Errorf("error %v", err)
		}
	}
	if calls != 2 || p.Len() != 0 {
		t.Errorf("a failed parse was kept: %d calls, %d kept", calls, p.Len())
	}
}

func TestParsedBounds(t *testing.T) {
	var calls atomic.Int32
	// By entries.
	p := NewParsed[int](3, 1<<20)
	for i := range 5 {
		b := []byte(fmt.Sprint(i))
		p.Get(b, "", parseLen(b, 1, &calls))
	}
	if p.Len() != 3 {
		t.Errorf("%d kept, want 3", p.Len())
	}
	// By bytes, least recently used out first.
	p = NewParsed[int](100, 240)
	for _, s := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		p.Get([]byte(s), "", parseLen([]byte(s), 30, &calls))
	}
	p.Get([]byte("a"), "", parseLen([]byte("a"), 30, &calls)) // a is now the most recent
	p.Get([]byte("i"), "", parseLen([]byte("i"), 30, &calls)) // 270 bytes: b goes
	if p.Len() != 8 || p.bytes != 240 {
		t.Errorf("%d kept, %d bytes; want 8, 240", p.Len(), p.bytes)
	}
	before := calls.Load()
	p.Get([]byte("a"), "", parseLen([]byte("a"), 30, &calls))
	if calls.Load() != before {
		t.Error("the recently used value was evicted")
	}
	p.Get([]byte("b"), "", parseLen([]byte("b"), 30, &calls))
	if calls.Load() != before+1 {
		t.Error("the least recently used value was kept")
	}
	// A value of more than an eighth of the bound is returned, not kept.
	if v, err := p.Get([]byte("huge"), "", parseLen([]byte("huge"), 31, &calls)); err != nil || v != 4 || p.Len() != 8 {
		t.Errorf("huge: %v %v, %d kept", v, err, p.Len())
	}
	p.Purge()
	if p.Len() != 0 || p.bytes != 0 {
		t.Errorf("after Purge: %d kept, %d bytes", p.Len(), p.bytes)
	}
}

func TestParsedConcurrentParseOnce(t *testing.T) {
	p := NewParsed[*[]int](8, 1<<20)
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]*[]int, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := p.Get([]byte("doc"), "v", func() (*[]int, int64, error) {
				calls.Add(1)
				<-release
				return &[]int{1}, 1, nil
			})
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		}()
	}
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("parsed %d times", calls.Load())
	}
	for _, v := range got {
		if v != got[0] {
			t.Error("callers got different values")
		}
	}
}
