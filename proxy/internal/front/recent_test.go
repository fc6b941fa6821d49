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

// With a Weight, the values kept weigh at most MaxWeight, oldest out
// first, and the newest stays even when it alone weighs more.
func TestRecentWeight(t *testing.T) {
	c := Recent[int]{TTL: time.Minute, Size: 100, Weight: func(v int) int64 { return int64(v) }, MaxWeight: 10}
	c.Put("a", 4)
	c.Put("b", 4)
	c.Put("a", 5) // replaced: weighs 5, not 4+5
	if _, ok := c.Get("a"); !ok || c.weight != 9 {
		t.Errorf("after replacing a: weight %d, a kept %v", c.weight, ok)
	}
	c.Put("c", 3) // 12 > 10: a, put first, goes
	if _, ok := c.Get("a"); ok || c.weight != 7 {
		t.Errorf("weight %d, a still kept %v", c.weight, ok)
	}
	c.Put("huge", 50)
	if v, ok := c.Get("huge"); !ok || v != 50 || len(c.m) != 1 || c.weight != 50 {
		t.Errorf("after a value heavier than the bound: %d kept, weight %d, huge %v", len(c.m), c.weight, ok)
	}
	c.Put("d", 1)
	if _, ok := c.Get("huge"); ok || c.weight != 1 {
		t.Errorf("the heavy value stayed: weight %d", c.weight)
	}
}
