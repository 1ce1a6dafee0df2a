//go:build amd64

package main

import "golang.org/x/sys/cpu"

// fmaYMM runs n iterations of 12 independent FMAs on ymm registers (8 float32 lanes each),
// acc += a*b, and stores the sum of the 12 accumulators to out: 192 flops an iteration.
//
//go:noescape
func fmaYMM(n int, a, b float32, out *[8]float32)

// fmaZMM runs n iterations of 24 independent FMAs on zmm registers (16 float32 lanes each),
// and stores the sum of the 24 accumulators to out: 768 flops an iteration.
//
//go:noescape
func fmaZMM(n int, a, b float32, out *[16]float32)

// loops lists the FMA loops this CPU and OS can run, AVX-512 first. golang.org/x/sys/cpu checks
// that the OS saves the ymm and zmm registers, not only that the CPU has the instructions.
func loops() []loop {
	var ls []loop
	if cpu.X86.HasAVX512F {
		ls = append(ls, loop{name: "avx512 zmm", flopsPerIter: 24 * 16 * 2, run: func(n int, a, b float32) []float32 {
			var out [16]float32
			fmaZMM(n, a, b, &out)
			return out[:]
		}})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ls = append(ls, loop{name: "avx2 ymm", flopsPerIter: 12 * 8 * 2, run: func(n int, a, b float32) []float32 {
			var out [8]float32
			fmaYMM(n, a, b, &out)
			return out[:]
		}})
	}
	return ls
}

// accumulators returns the number of accumulator registers of the loop named name.
func accumulators(name string) int {
	if name == "avx512 zmm" {
		return 24
	}
	return 12
}
