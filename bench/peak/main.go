// Command peak measures the peak float32 FMA throughput of this machine: Go assembly loops of
// independent fused multiply-adds on AVX2 (ymm, 8 lanes) and AVX-512 (zmm, 16 lanes)
// registers, on one core and on several (one goroutine per core, each on a locked OS thread
// pinned to its core). No real kernel can beat these figures, so bench/compare.py divides each
// workload's achieved GFLOP/s by them. Loops the CPU or OS lacks are skipped
// (golang.org/x/sys/cpu).
//
// usage: go run ./bench/peak [-runs 5] [-seconds 0.3] [-cores 1,2] [-json]
//
// Each figure is the best of -runs runs (the machine is shared; the best run is the one the
// others disturbed least), with the median beside it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loop is one FMA loop: run(n, a, b) makes n iterations of flopsPerIter flops each and returns
// the lanes of the summed accumulators.
type loop struct {
	name         string
	flopsPerIter int
	run          func(n int, a, b float32) []float32
}

// figure is the throughput of one loop on some cores, in GFLOP/s.
type figure struct {
	ISA    string  `json:"isa"`
	Cores  int     `json:"cores"`
	Best   float64 `json:"best_gflops"`
	Median float64 `json:"median_gflops"`
	Pinned bool    `json:"pinned"`
}

func main() {
	runs := flag.Int("runs", 5, "runs per figure; the best is reported")
	seconds := flag.Float64("seconds", 0.3, "length of one run")
	coreList := flag.String("cores", "1,"+strconv.Itoa(runtime.NumCPU()), "core counts to measure, comma-separated")
	asJSON := flag.Bool("json", false, "print one JSON object instead of text")
	flag.Parse()
	cores, err := parseCores(*coreList)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peak:", err)
		os.Exit(2)
	}
	ls := loops()
	if len(ls) == 0 {
		fmt.Fprintf(os.Stderr, "peak: no FMA loop for %s/%s (AVX2+FMA or AVX-512 on amd64 needed)\n", runtime.GOOS, runtime.GOARCH)
		os.Exit(1)
	}
	var figs []figure
	for _, l := range ls {
		n := calibrate(l, *seconds)
		for _, c := range cores {
			figs = append(figs, measure(l, n, c, *runs))
		}
	}
	if *asJSON {
		out := map[string]any{"date": time.Now().Format(time.RFC3339), "cpus": runtime.NumCPU(), "figures": figs}
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			fmt.Fprintln(os.Stderr, "peak:", err)
			os.Exit(1)
		}
		return
	}
	fmt.Printf("peak float32 FMA throughput (Go assembly, independent FMAs), best of %d runs of ~%.2g s\n", *runs, *seconds)
	for _, f := range figs {
		fmt.Printf("%-11s %d core(s): %6.1f GFLOP/s (median %.1f)\n", f.ISA, f.Cores, f.Best, f.Median)
	}
}

func parseCores(s string) ([]int, error) {
	var cs []int
	for _, f := range strings.Split(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return nil, fmt.Errorf("-cores %q: want positive integers separated by commas", s)
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// calibrate returns the iteration count that makes one run of l last about seconds on one core.
func calibrate(l loop, seconds float64) int {
	n := 1 << 16
	for {
		t := time.Now()
		l.run(n, 1, 1e-9)
		if el := time.Since(t).Seconds(); el > 0.02 {
			return max(1, int(float64(n)*seconds/el))
		}
		n *= 4
	}
}

// measure runs l n iterations on each of cores goroutines at once, runs times, and returns the
// best and median throughput over the runs (all cores' flops over the wall time).
func measure(l loop, n, cores, runs int) figure {
	rates := make([]float64, runs)
	var unpinned atomic.Bool
	for r := range rates {
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		ready.Add(cores)
		done.Add(cores)
		for c := 0; c < cores; c++ {
			go func() {
				defer done.Done()
				// The thread stays locked: when the goroutine ends, it ends with it, so
				// no other goroutine inherits its pinning.
				runtime.LockOSThread()
				if !pin(c % runtime.NumCPU()) {
					unpinned.Store(true)
				}
				ready.Done()
				<-start
				l.run(n, 1, 1e-9)
			}()
		}
		ready.Wait()
		t := time.Now()
		close(start)
		done.Wait()
		rates[r] = float64(cores) * float64(n) * float64(l.flopsPerIter) / time.Since(t).Seconds() / 1e9
	}
	slices.Sort(rates)
	return figure{ISA: l.name, Cores: cores, Best: rates[len(rates)-1], Median: rates[len(rates)/2], Pinned: !unpinned.Load()}
}
