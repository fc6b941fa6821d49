package front

import (
	"fmt"
	"testing"
	"time"
)

func TestRecentBounds(t *testing.T) {
	c := Recent[int]{TTL: time.Minute, Size: 4}
	for i := range 10 {
		c.Put(fmt.Sprint(i), i)
	}
	if len(c.m) != 4 || len(c.order) != 4 {
		t.Errorf("%d entries, %d in order", len(c.m), len(c.order))
	}
	if _, ok := c.Get("5"); ok {
		t.Error("oldest not evicted")
	}
	if v, ok := c.Get("9"); !ok || v != 9 {
		t.Errorf("newest: %v %v", v, ok)
	}
	c.Purge()
	if _, ok := c.Get("9"); ok {
		t.Error("purged entry served")
	}
	short := Recent[int]{TTL: time.Millisecond, Size: 4}
	short.Put("old", 1)
	time.Sleep(5 * time.Millisecond)
	if _, ok := short.Get("old"); ok {
		t.Error("expired entry served")
	}
}
