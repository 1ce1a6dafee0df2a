package dist_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/unroll-ml/unroll/dist"
	"github.com/unroll-ml/unroll/dist/disttest"
)

// checkCollectives runs every operation of g with values whose sums are exact and returns
// what went wrong on this rank. Every rank runs the same sequence of operations whatever
// happens, so a failure on one rank does not leave the others waiting.
func checkCollectives(g dist.Group) error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("rank %d: "+format, append([]any{g.Rank()}, args...)...))
	}
	for _, check := range []func(dist.Group, func(string, ...any)){
		checkAllReduce32, checkAllReduce64, checkBroadcast, checkBroadcastBytes,
		checkGather, checkBadRoot, checkAgree,
	} {
		check(g, fail)
		if err := g.Barrier(); err != nil {
			fail("barrier: %v", err)
		}
	}
	return errors.Join(errs...)
}

// checkAllReduce32 sums (r+1)*(i+1) + r/2 over the ranks r: exact in float32 for these sizes.
func checkAllReduce32(g dist.Group, fail func(string, ...any)) {
	r, n := g.Rank(), g.Size()
	for _, length := range []int{0, 1, 7, 1000} {
		buf := make([]float32, length)
		for i := range buf {
			buf[i] = float32((r+1)*(i+1)) + float32(r)/2
		}
		if err := g.AllReduceSum32(buf); err != nil {
			fail("AllReduceSum32 of %d: %v", length, err)
			continue
		}
		for i, v := range buf {
			want := float32(n*(n+1)/2*(i+1)) + float32(n*(n-1))/4
			if v != want {
				fail("AllReduceSum32 of %d: element %d is %v, want %v", length, i, v, want)
				break
			}
		}
	}
	if err := g.AllReduceSum32(nil); err != nil {
		fail("AllReduceSum32 of nil: %v", err)
	}
}

// checkAllReduce64 sums 2^40 + r*(i+1) + r/4: exact in float64, not in float32.
func checkAllReduce64(g dist.Group, fail func(string, ...any)) {
	r, n := g.Rank(), g.Size()
	buf := make([]float64, 513)
	for i := range buf {
		buf[i] = 1<<40 + float64(r*(i+1)) + float64(r)/4
	}
	if err := g.AllReduceSum64(buf); err != nil {
		fail("AllReduceSum64: %v", err)
		return
	}
	for i, v := range buf {
		want := float64(n)*(1<<40) + float64(n*(n-1)/2*(i+1)) + float64(n*(n-1))/8
		if v != want {
			fail("AllReduceSum64: element %d is %v, want %v", i, v, want)
			return
		}
	}
}

// checkBroadcast broadcasts from rank 0 and from the last rank.
func checkBroadcast(g dist.Group, fail func(string, ...any)) {
	r := g.Rank()
	for _, root := range []int{0, g.Size() - 1} {
		b32, b64 := make([]float32, 100), make([]float64, 100)
		for i := range b32 {
			b32[i], b64[i] = float32(100*r+i), float64(1<<40+100*r+i)
		}
		if err := g.Broadcast32(b32, root); err != nil {
			fail("Broadcast32 from %d: %v", root, err)
		}
		if err := g.Broadcast64(b64, root); err != nil {
			fail("Broadcast64 from %d: %v", root, err)
		}
		for i := range b32 {
			if b32[i] != float32(100*root+i) || b64[i] != float64(1<<40+100*root+i) {
				fail("broadcast from %d: element %d is %v and %v", root, i, b32[i], b64[i])
				break
			}
		}
	}
}

// checkBroadcastBytes broadcasts a blob of the root's own length from each root, and an empty
// one; the other ranks pass nil.
func checkBroadcastBytes(g dist.Group, fail func(string, ...any)) {
	for root := range g.Size() {
		for _, want := range [][]byte{[]byte(strings.Repeat(fmt.Sprintf("rank %d. ", root), root+1)), {}} {
			var blob []byte
			if g.Rank() == root {
				blob = want
			}
			got, err := g.BroadcastBytes(blob, root)
			if err != nil {
				fail("BroadcastBytes from %d: %v", root, err)
			} else if !bytes.Equal(got, want) || got == nil {
				fail("BroadcastBytes from %d: got %q, want %q", root, got, want)
			}
		}
	}
}

// checkGather gathers 3r bytes of value r from each rank r (rank 0's blob is empty), then
// 20r+1 bytes.
func checkGather(g dist.Group, fail func(string, ...any)) {
	for _, length := range []func(r int) int{
		func(r int) int { return 3 * r },
		func(r int) int { return 20*r + 1 },
	} {
		r := g.Rank()
		got, err := g.GatherBytes(bytes.Repeat([]byte{byte(r)}, length(r)))
		if err != nil {
			fail("GatherBytes: %v", err)
			continue
		}
		if r != 0 {
			if got != nil {
				fail("GatherBytes: rank %d got %d blobs, want nil", r, len(got))
			}
			continue
		}
		if len(got) != g.Size() {
			fail("GatherBytes: got %d blobs, want %d", len(got), g.Size())
			continue
		}
		for q, b := range got {
			if want := bytes.Repeat([]byte{byte(q)}, length(q)); !bytes.Equal(b, want) || b == nil {
				fail("GatherBytes: blob of rank %d is %v, want %v", q, b, want)
			}
		}
	}
}

// checkBadRoot gives every broadcast a root outside the group: each must fail with an error
// naming the root, on every rank, before any communication (so the all-reduce after works).
func checkBadRoot(g dist.Group, fail func(string, ...any)) {
	n := g.Size()
	want := fmt.Sprintf("the group has ranks 0 to %d", n-1)
	errs := []error{g.Broadcast32(make([]float32, 3), n), g.Broadcast64(make([]float64, 3), -1)}
	_, err := g.BroadcastBytes([]byte("x"), n+5)
	for i, err := range append(errs, err) {
		if err == nil || !strings.Contains(err.Error(), want) {
			fail("broadcast %d from a bad root: error %v, want one with %q", i, err, want)
		}
	}
	one := []float32{1}
	if err := g.AllReduceSum32(one); err != nil || one[0] != float32(n) {
		fail("all-reduce after bad roots: %v, %v", one, err)
	}
}

// checkAgree agrees on the same blob, then on one that differs on the last rank.
func checkAgree(g dist.Group, fail func(string, ...any)) {
	if err := dist.Agree(g, "layout", []byte("w (3, 4)")); err != nil {
		fail("Agree on equal blobs: %v", err)
	}
	if g.Size() == 1 {
		return
	}
	blob := []byte("w (3, 4)")
	if g.Rank() == g.Size()-1 {
		blob = []byte("w (4, 3)")
	}
	want := fmt.Sprintf("dist: layout of rank %d differs from rank 0's", g.Size()-1)
	if err := dist.Agree(g, "layout", blob); err == nil || err.Error() != want {
		fail("Agree on different blobs: %v, want %q", err, want)
	}
}

func TestCollectivesSingle(t *testing.T) {
	if err := checkCollectives(dist.Single()); err != nil {
		t.Error(err)
	}
}

func TestCollectivesLocal(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4} {
		if err := disttest.RunLocal(n, checkCollectives); err != nil {
			t.Errorf("%d ranks: %v", n, err)
		}
	}
}

// checkIdenticalSums all-reduces n pseudo-random values of each float type, whose sums are not
// exact, and checks with Agree that every rank received the same bits: the ranks of a
// data-parallel job must apply the same gradient.
func checkIdenticalSums(g dist.Group, n int) error {
	rng := rand.New(rand.NewPCG(uint64(g.Rank()), 1))
	b32, b64 := make([]float32, n), make([]float64, n)
	for i := range b32 {
		b32[i], b64[i] = rng.Float32()-0.5, rng.NormFloat64()
	}
	if err := errors.Join(g.AllReduceSum32(b32), g.AllReduceSum64(b64)); err != nil {
		return err
	}
	raw := make([]byte, 0, 12*n)
	for i := range b32 {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(b32[i]))
		raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(b64[i]))
	}
	return dist.Agree(g, fmt.Sprintf("sum of %d values", n), raw)
}

func TestIdenticalSumsLocal(t *testing.T) {
	err := disttest.RunLocal(3, func(g dist.Group) error { return checkIdenticalSums(g, 1000) })
	if err != nil {
		t.Error(err)
	}
}
