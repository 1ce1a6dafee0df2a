// Package gemm is unroll's matrix multiply: C = alpha*op(A)*op(B) + beta*C
// on row-major float32 (Sgemm) and float64 (Dgemm) matrices with BLAS
// semantics. Convolutions (as im2col), dense layers and recurrent cells
// reduce to it.
//
// # Blocking and packing
//
// The native implementation follows the GotoBLAS/BLIS scheme. C is computed
// in register tiles of mr x nr elements by a micro-kernel that keeps the
// whole tile in registers while it runs over the inner dimension. Around it
// three loops block the operands for the caches:
//
//	for jc: panels of nc columns of C            (kc x nc of op(B) in L3)
//	  for pc: blocks of kc along the inner dimension
//	    pack op(B)[pc:pc+kc, jc:jc+nc] into nr-wide panels
//	    for ic: blocks of mc rows of C            (mc x kc of op(A) in L2)
//	      pack op(A)[ic:ic+mc, pc:pc+kc] into mr-high panels
//	      for each nr-wide panel, for each mr-high panel: micro-kernel
//
// Packing copies a block into the exact order in which the micro-kernel
// reads it (mr values of a column of op(A), nr values of a row of op(B),
// consecutive in memory), so the kernel streams contiguous memory whatever
// the transposes and leading dimensions, and partial panels at the edges
// are padded with zeros. A tile that the edge of C cuts is computed into a
// scratch tile by the same kernel and copied, so edges cost little and use
// the same arithmetic as the interior.
//
// On amd64 processors with AVX2 and FMA (detected at run time with
// golang.org/x/sys/cpu) the micro-kernel is a 6x16 assembly kernel (twelve
// 8-wide accumulators, one fused multiply-add per element and step) with
// kc = 384, mc = 144 and nc = 3072, and packing uses AVX2 copies and 8x8
// in-register transposes. Elsewhere a portable 4x4 Go kernel is used. Dgemm
// always uses the portable kernel: it serves gradient checks, where
// exactness of meaning matters more than speed.
//
// # Threads and determinism
//
// A call splits C into a grid of parts made of whole tiles, one goroutine
// each (the caller runs one part), using at most as many goroutines as the
// project's thread count (graph.SetThreads; the default is
// runtime.GOMAXPROCS(0), never more than the cores). The packing buffers
// come from the scratch lists the kernels share (internal/compute). Small
// products run on the calling goroutine. The inner dimension is never split among
// goroutines: every element of C is the sum of its products in increasing
// k, cut into the same kc blocks, by the same kernel code at the same
// position of the same tile grid, whatever the number of goroutines. The
// result is therefore bit-identical for any thread count, as the project's
// reproducibility rule requires. (Results may differ in the last bits
// between the assembly and the portable kernel, and from OpenBLAS.)
//
// # Choosing the implementation
//
// Impl names the implementation in use:
//
//   - "avx2-fma": the default on amd64 processors with AVX2 and FMA;
//   - "generic": portable Go, used on other processors and architectures, or
//     everywhere with the build tag purego (go test -tags purego);
//   - "openblas": with the build tag openblas and cgo enabled, Sgemm and
//     Dgemm call OpenBLAS's cblas_sgemm and cblas_dgemm (Debian:
//     libopenblas-dev). OpenBLAS runs single-threaded; a call is cut into
//     parts, the same whatever the number of threads, shared among the
//     project's threads, so that results do not depend on the thread
//     count and OpenBLAS's spinning threads do not take the cores from the
//     loops around the products.
//
// compare.sh in this folder prints the single-threaded speed of the native
// kernel beside OpenBLAS's on the workloads' matrix shapes.
//
// # Errors
//
// Invalid arguments (a negative size, a leading dimension smaller than the
// stored row, a slice too short for its matrix) are programming errors
// inside the project, whose layers validate shapes and return errors first:
// Sgemm and Dgemm panic with a message naming the argument and never read
// or write outside the slices they are given.
package gemm
