package disttest_test

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/dist/disttest"
)

func TestCounter(t *testing.T) {
	c := disttest.NewCounter(dist.Single())
	for _, n := range []int{3, 5} {
		if err := c.AllReduceSum32(make([]float32, n)); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.AllReduceSum64(make([]float64, 4))
	_ = c.Broadcast32(make([]float32, 2), 0)
	_ = c.Broadcast64(make([]float64, 6), 1) // fails: recorded all the same
	_, _ = c.BroadcastBytes([]byte("abc"), 0)
	_, _ = c.GatherBytes([]byte("hello"))
	_ = c.Barrier()
	for _, w := range []struct {
		op              disttest.Op
		calls, elements int
		lengths         []int
	}{
		{disttest.AllReduceSum32, 2, 8, []int{3, 5}},
		{disttest.AllReduceSum64, 1, 4, []int{4}},
		{disttest.Broadcast32, 1, 2, []int{2}},
		{disttest.Broadcast64, 1, 6, []int{6}},
		{disttest.BroadcastBytes, 1, 3, []int{3}},
		{disttest.GatherBytes, 1, 5, []int{5}},
		{disttest.Barrier, 1, 0, []int{0}},
	} {
		if c.Calls(w.op) != w.calls || c.Elements(w.op) != w.elements || !slices.Equal(c.Lengths(w.op), w.lengths) {
			t.Errorf("%s: %d calls, %d elements, lengths %v; want %d, %d, %v", w.op,
				c.Calls(w.op), c.Elements(w.op), c.Lengths(w.op), w.calls, w.elements, w.lengths)
		}
	}
	c.Reset()
	if c.Calls(disttest.AllReduceSum32) != 0 {
		t.Errorf("Reset kept %d calls", c.Calls(disttest.AllReduceSum32))
	}
	if c.Rank() != 0 || c.Size() != 1 || c.Close() != nil {
		t.Errorf("Rank, Size and Close do not pass through")
	}
}

// TestCounterLocal counts each rank's calls over a Local group: the use data-parallel
// training tests make of it (one all-reduce per bucket on every rank).
func TestCounterLocal(t *testing.T) {
	buckets := []int{100, 37}
	counters := make([]*disttest.Counter, 2)
	err := disttest.RunLocal(2, func(g dist.Group) error {
		c := disttest.NewCounter(g)
		counters[g.Rank()] = c
		for _, n := range buckets {
			if err := c.AllReduceSum32(make([]float32, n)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r, c := range counters {
		if got := c.Lengths(disttest.AllReduceSum32); !slices.Equal(got, buckets) {
			t.Errorf("rank %d: all-reduces of %v, want %v", r, got, buckets)
		}
	}
}

func TestLocalSize(t *testing.T) {
	if _, err := disttest.Local(0); err == nil || err.Error() != "disttest: a group needs at least 1 rank, not 0" {
		t.Errorf("Local(0): %v", err)
	}
	gs, err := disttest.Local(3)
	if err != nil {
		t.Fatal(err)
	}
	for r, g := range gs {
		if g.Rank() != r || g.Size() != 3 {
			t.Errorf("group %d is rank %d of %d", r, g.Rank(), g.Size())
		}
	}
}

// TestLocalContract breaks the contract of dist.Group in each way a Local group detects: every
// rank gets the error.
func TestLocalContract(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func(g dist.Group) error
		want string
	}{
		{"operations", func(g dist.Group) error {
			if g.Rank() == 1 {
				return g.Barrier()
			}
			return g.AllReduceSum32(make([]float32, 2))
		}, "disttest: rank 0 called AllReduceSum32 while rank 1 called Barrier"},
		{"lengths", func(g dist.Group) error {
			return g.AllReduceSum64(make([]float64, 2+g.Rank()))
		}, "disttest: AllReduceSum64: rank 0 has 2 elements, rank 1 has 3"},
		{"roots", func(g dist.Group) error {
			return g.Broadcast32(make([]float32, 2), g.Rank())
		}, "disttest: Broadcast32: rank 0 gave root 0, rank 1 gave root 1"},
	} {
		err := disttest.RunLocal(2, c.f)
		for r := range 2 {
			if want := fmt.Sprintf("rank %d: %s", r, c.want); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want %q", c.name, err, want)
			}
		}
	}
}

// TestLocalAbort aborts rank 1 while rank 0 waits in an all-reduce: rank 0's all-reduce fails
// naming rank 1 and its status, and rank 1 ends where it aborted.
func TestLocalAbort(t *testing.T) {
	err := disttest.RunLocal(2, func(g dist.Group) error {
		if g.Rank() == 1 {
			g.Abort(3)
			return errors.New("Abort returned")
		}
		return g.AllReduceSum32(make([]float32, 4))
	})
	want := "rank 0: disttest: rank 1 aborted with status 3\nrank 1: aborted with status 3"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestLocalClose checks that a rank's operations fail once it has closed, and the other
// ranks' operations once any rank has.
func TestLocalClose(t *testing.T) {
	err := disttest.RunLocal(2, func(g dist.Group) error {
		if err := g.Barrier(); err != nil {
			return err
		}
		if g.Rank() == 1 {
			if err := g.Close(); err != nil {
				return err
			}
			if !errors.Is(g.Barrier(), dist.ErrClosed) || !errors.Is(g.Close(), dist.ErrClosed) {
				return errors.New("operations after Close do not fail with ErrClosed")
			}
			return nil
		}
		return g.Barrier()
	})
	if want := "rank 0: disttest: rank 1 has closed the group"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestLocalGoexit checks that a rank whose goroutine ends without returning (t.FailNow in a
// rank's function) is reported.
func TestLocalGoexit(t *testing.T) {
	err := disttest.RunLocal(1, func(g dist.Group) error {
		runtime.Goexit()
		return nil
	})
	if want := "rank 0: ended without returning (runtime.Goexit)"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}
