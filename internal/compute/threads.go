package compute

import (
	"runtime"
	"sync/atomic"
)

// threadSetting is the value given to SetThreads; 0 means the default.
var threadSetting atomic.Int64

// MaxThreads is the largest number of threads a kernel uses: the cores.
func MaxThreads() int { return runtime.NumCPU() }

// Threads returns the number of goroutines a kernel may use at once: the value given to
// SetThreads, by default runtime.GOMAXPROCS(0), never more than the cores.
func Threads() int {
	t := int(threadSetting.Load())
	if t <= 0 {
		t = runtime.GOMAXPROCS(0)
	}
	return max(1, min(t, MaxThreads()))
}

// SetThreads sets the number of goroutines a kernel may use and returns the previous value
// of Threads. n <= 0 restores the default; n above the number of cores is clamped. No
// result depends on it.
func SetThreads(n int) int {
	prev := Threads()
	threadSetting.Store(int64(max(0, min(n, MaxThreads()))))
	return prev
}
