package compute

import (
	"slices"
	"sync/atomic"
	"testing"
)

func TestForCoversEachIndexOnce(t *testing.T) {
	for _, threads := range []int{1, 2, 8} {
		prev := SetThreads(threads)
		for _, n := range []int{0, 1, 7, 1000} {
			for _, work := range []int{0, MinParallelWork, 100 * MinParallelWork} {
				seen := make([]atomic.Int32, n)
				For(n, work, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						seen[i].Add(1)
					}
				})
				for i := range seen {
					if c := seen[i].Load(); c != 1 {
						t.Fatalf("threads %d n %d work %d: index %d visited %d times", threads, n, work, i, c)
					}
				}
			}
		}
		SetThreads(prev)
	}
}

func TestElemsPartsStartOnCacheLines(t *testing.T) {
	n := 100*MinParallelWork + 5
	var bad atomic.Int32
	var total atomic.Int64
	Elems(n, func(lo, hi int) {
		if lo%16 != 0 {
			bad.Add(1)
		}
		total.Add(int64(hi - lo))
	})
	if bad.Load() != 0 || total.Load() != int64(n) {
		t.Fatalf("%d parts off the grain, %d of %d elements covered", bad.Load(), total.Load(), n)
	}
}

func TestPartsRunsEveryPart(t *testing.T) {
	var got [5]atomic.Int32
	Parts(len(got), func(p int) { got[p].Add(1) })
	for p := range got {
		if got[p].Load() != 1 {
			t.Fatalf("part %d ran %d times", p, got[p].Load())
		}
	}
}

func TestSetThreadsClamps(t *testing.T) {
	prev := SetThreads(1 << 20)
	defer SetThreads(prev)
	if Threads() != MaxThreads() {
		t.Fatalf("Threads() = %d after a huge setting, want the cores %d", Threads(), MaxThreads())
	}
	SetThreads(1)
	if Threads() != 1 {
		t.Fatalf("Threads() = %d, want 1", Threads())
	}
}

func TestScratchReuses(t *testing.T) {
	a := Scratch[float32](1000)
	if len(a) != 1000 {
		t.Fatalf("len %d", len(a))
	}
	Release(a)
	b := Scratch[float32](500)
	if cap(b) < 500 || len(b) != 500 {
		t.Fatalf("len %d cap %d", len(b), cap(b))
	}
	Release(b)
	c := Scratch[float64](10)
	Release(c)
}

func TestSetISA(t *testing.T) {
	isas := Each()
	if isas[0] != Generic || isas[len(isas)-1] != Supported() {
		t.Fatalf("Each() = %v, supported %v", isas, Supported())
	}
	for _, isa := range isas {
		prev, err := SetISA(isa)
		if err != nil {
			t.Fatal(err)
		}
		if Current() != isa {
			t.Fatalf("Current() = %v after SetISA(%v)", Current(), isa)
		}
		SetISA(prev)
	}
	if _, err := SetISA(Supported() + 1); err == nil {
		t.Fatalf("SetISA(%v) accepted on a machine whose best is %v", Supported()+1, Supported())
	}
	if !slices.Contains([]string{"generic", "avx2", "avx512"}, Current().String()) {
		t.Fatalf("unexpected name %q", Current())
	}
}
