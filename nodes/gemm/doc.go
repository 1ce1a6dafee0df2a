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
// are padded with zeros. A tile that the edge of C cuts is computed by the
// same kernel into a scratch tile and copied, or stored through masks (AVX-512),
// so edges cost little and use the same arithmetic as the interior.
//
// A kernel may also read op(A) where it lies instead of from a packed panel
// (the AVX-512 one does): then only B and the panels of A that the edge of C
// cuts are packed.
//
// # Kernels and dispatch
//
// Three single-precision kernels exist; the one in use follows the
// instruction set that internal/compute chose (the best this processor and
// operating system support, found with golang.org/x/sys/cpu), read at each
// call, so that tests and benchmarks can force each path with
// compute.SetISA:
//
//   - AVX-512 (amd64 with AVX-512 F/BW/VL/DQ): an 8x32 assembly kernel,
//     written by avx512_gen.go. Sixteen zmm accumulators hold the tile (8
//     rows of two 16-wide vectors); each step of k loads two vectors of B,
//     broadcasts eight values of A and does sixteen fused multiply-adds. Two
//     512-bit FMA pipes of 4-cycle latency need only 8 independent chains, so
//     16 leave slack. Tiles that cut C's edge are stored through mask
//     registers, and masked loads keep packing and C inside their slices.
//     op(A) is read in place with strided broadcasts rather than packed (Aᵀ
//     is still packed when its rows are a multiple of 1 KiB apart, where
//     they would evict each other from L1); B is packed with zmm copies or
//     8x8 transposes. Blocking: kc = 384 (the AVX2 kernel's, so that both
//     give the same bits), mc = 192 (a 295 KB block of A in the 1 MB L2) and
//     nc = 3072.
//   - AVX2 with FMA: a 6x16 kernel (twelve 8-wide accumulators) with
//     kc = 384, mc = 144 and nc = 3072, packing with AVX2 copies and 8x8
//     transposes.
//   - Elsewhere, and in the purego build: a portable 4x4 Go kernel.
//
// Dgemm always uses the portable kernel: it serves gradient checks, where
// exactness of meaning matters more than speed.
//
// The 8x32 tile was chosen by measurement on the development machine (AMD
// EPYC, full-width 512-bit FMA, 48 KiB L1, 1 MiB L2). Alone on operands in
// L1, 8x32, 6x64, 14x32, 8x48 and 12x32 tiles all ran at 90-100% of a
// plain FMA loop, and at M = N = K = 2048 they were equal within the noise of
// the shared machine (as were kc from 192 to 768 and mc from 64 to 384). The
// workloads' shapes decide: their M (32, 64, 2048, 3136, 12544, 50176) are
// multiples of 8 and their N (64, 96, 128, 256, 288, 1024, 3136) multiples
// of 32, so 8x32 tiles waste nothing at the edges where 12- or 14-row tiles
// waste up to 24% (M = 32) and 48-wide ones 50% (N = 64). Reading A in
// place instead of packing it made the convolutions' forward products 24%
// (K = 288) to 43% (K = 9) faster. BenchmarkSgemm2048 and BenchmarkSgemm
// measure each path.
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
// reproducibility rule requires.
//
// Both assembly kernels compute each element the same way: per block of k, a
// sum from zero with one fused multiply-add per product, in increasing k,
// then alpha times it plus beta times C, each rounded once. With the same kc
// they give the same bits, on every shape and transpose: a model trains to
// the same numbers with AVX-512 or AVX2. The tests check both bit for bit
// against a portable Go version of that arithmetic. The portable kernel
// rounds each product separately, so its last bits differ (and OpenBLAS's
// too); the tests hold it to the float32 rounding bound.
//
// # Choosing the implementation
//
// Impl names the implementation in use:
//
//   - "avx512": the default on amd64 processors with AVX-512;
//   - "avx2-fma": on amd64 processors with AVX2 and FMA but not AVX-512;
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
// The first three follow compute.SetISA. PackedB packs B for the kernel in
// use and records which; see PackedB for what happens when the instruction
// set changes afterwards.
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
