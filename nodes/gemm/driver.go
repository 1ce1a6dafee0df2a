package gemm

import "github.com/unroll-ml/unroll/internal/compute"

// job is one native GEMM call: the operands, the blocking chosen for them and
// the split of C among goroutines. The packing buffers of each part come
// from compute's scratch lists, so a steady stream of calls allocates only
// the small job itself.
type job[T float] struct {
	kern           *kernel[T]
	transA, transB bool
	m, n, k        int
	alpha, beta    T
	a, b, c        []T
	lda, ldb, ldc  int

	kc     int // inner block length, fixed by k alone
	pm, pn int // C is split into pm x pn parts along its tile grid
}

// workspace holds the packing buffers of one part.
type workspace[T float] struct {
	a, b []T // packed block of A (mc x kc) and panel of B (kc x nc)
	tile []T // mr x nr scratch tile for the edges of C
}

// newWorkspace takes buffers of the given sizes from the scratch lists.
func newWorkspace[T float](na, nb, ntile int) workspace[T] {
	return workspace[T]{a: compute.Scratch[T](na), b: compute.Scratch[T](nb), tile: compute.Scratch[T](ntile)}
}

// release gives the buffers back.
func (ws workspace[T]) release() {
	compute.Release(ws.a)
	compute.Release(ws.b)
	compute.Release(ws.tile)
}

// gemm computes C = alpha*op(A)*op(B) + beta*C with kern on up to threads
// goroutines. The arguments are valid and m, n >= 1.
func gemm[T float](kern *kernel[T], threads int, transA, transB bool, m, n, k int,
	alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	j := newJob(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	j.pm, j.pn = partition(m, n, k, kern, min(threads, compute.MaxThreads()))
	compute.Parts(j.pm*j.pn, j.runPart)
}

// newJob fills in the operands and the inner blocking. k >= 1 and alpha != 0.
func newJob[T float](kern *kernel[T], transA, transB bool, m, n, k int,
	alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) *job[T] {
	j := &job[T]{kern: kern, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc}
	// Split k into equal blocks of at most kern.kc: the blocks, and so the
	// order of the sums, depend on k only.
	nk := (k + kern.kc - 1) / kern.kc
	j.kc = (k + nk - 1) / nk
	return j
}

// scaleC sets C = beta*C, writing zeros when beta is zero.
func scaleC[T float](m, n int, beta T, c []T, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// span returns the range [lo, hi) of elements 0..size-1 covered by part p of
// parts when whole tiles of t elements are dealt out as evenly as possible.
func span(p, parts, size, t int) (lo, hi int) {
	tiles := (size + t - 1) / t
	lo = p * tiles / parts * t
	hi = min((p+1)*tiles/parts*t, size)
	return lo, hi
}

// runPart computes part p of C.
func (j *job[T]) runPart(p int) {
	pi, pj := p/j.pn, p%j.pn
	i0, i1 := span(pi, j.pm, j.m, j.kern.mr)
	j0, j1 := span(pj, j.pn, j.n, j.kern.nr)
	if i0 < i1 && j0 < j1 {
		j.block(i0, i1, j0, j1)
	}
}

// block computes rows i0..i1-1 and columns j0..j1-1 of C, where i0 and j0 lie
// on the tile grid, in the GotoBLAS loop order: panels of nc columns, blocks
// of kc along the inner dimension (B panel packed once), blocks of mc rows (A
// block packed once), then the mr x nr tiles.
func (j *job[T]) block(i0, i1, j0, j1 int) {
	kern := j.kern
	mr, nr := kern.mr, kern.nr
	mc := balance(i1-i0, kern.mc, mr)
	nc := balance(j1-j0, kern.nc, nr)
	ws := newWorkspace[T](mc*j.kc, nc*j.kc, mr*nr)
	defer ws.release()
	for jc := j0; jc < j1; jc += nc {
		nb := min(nc, j1-jc)
		for pc := 0; pc < j.k; pc += j.kc {
			kb := min(j.kc, j.k-pc)
			beta := j.beta
			if pc > 0 {
				beta = 1
			}
			bp := ws.b[:roundUp(nb, nr)*kb]
			packB(kern, bp, j.b, j.ldb, j.transB, pc, kb, jc, nb)
			for ic := i0; ic < i1; ic += mc {
				mb := min(mc, i1-ic)
				ap, direct := j.blockA(&ws, ic, mb, pc, kb)
				j.macro(&ws, ap, direct, bp, ic, mb, jc, nb, pc, kb, beta)
			}
		}
	}
}

// blockA prepares the mb x kb block of op(A) at row ic and column pc for
// macro: it packs the block into the workspace, or, when the kernel reads
// op(A) in place (direct), only the panel that the edge of C cuts. Aᵀ is
// packed all the same when its rows lie a multiple of 1 KiB apart: the
// kernel reads one 32-byte piece of each of kb rows, and rows at such
// distances share few sets of the L1 cache and evict each other.
func (j *job[T]) blockA(ws *workspace[T], ic, mb, pc, kb int) (ap []T, direct bool) {
	kern := j.kern
	ap = ws.a[:roundUp(mb, kern.mr)*kb]
	direct = kern.direct != nil && (!j.transA && kern.directA || j.transA && kern.directAT && j.lda%256 != 0)
	if !direct {
		packA(kern, ap, j.a, j.lda, j.transA, ic, mb, pc, kb)
	} else if full := mb / kern.mr * kern.mr; full < mb {
		packA(kern, ap[full*kb:], j.a, j.lda, j.transA, ic+full, mb-full, pc, kb)
	}
	return ap, direct
}

// macro runs the micro-kernel over the mb x nb block of C at (ic, jc) from
// the block ap of op(A) that blockA prepared (direct: its whole panels are in
// place) and the packed panel bp of op(B), for the columns pc.. of op(A). A
// tile that C's edge cuts is computed by the kernel's edge function, or in
// the scratch tile and copied; either way with the same arithmetic.
func (j *job[T]) macro(ws *workspace[T], ap []T, direct bool, bp []T, ic, mb, jc, nb, pc, kb int, beta T) {
	kern := j.kern
	mr, nr := kern.mr, kern.nr
	fn := kern.fn
	c, ldc, alpha := j.c, j.ldc, j.alpha
	// Value r of column p of the panel of op(A) at row i is at
	// j.a[i*rs+pc*ks + r*rs+p*ks].
	rs, ks := j.lda, 1
	if j.transA {
		rs, ks = 1, j.lda
	}
	for jr := 0; jr < nb; jr += nr {
		nn := min(nr, nb-jr)
		bpan := bp[jr*kb : (jr+nr)*kb]
		for ir := 0; ir < mb; ir += mr {
			mm := min(mr, mb-ir)
			off := (ic+ir)*ldc + jc + jr
			if direct && mm == mr {
				kern.direct(kb, j.a[(ic+ir)*rs+pc*ks:], rs, ks, bpan, c[off:], ldc, alpha, beta, mm, nn)
				continue
			}
			apan := ap[ir*kb : (ir+mr)*kb]
			if mm == mr && nn == nr {
				fn(kb, apan, bpan, c[off:], ldc, alpha, beta)
				continue
			}
			if kern.edge != nil {
				kern.edge(kb, apan, bpan, c[off:], ldc, alpha, beta, mm, nn)
				continue
			}
			t := ws.tile[:mr*nr]
			if beta != 0 {
				for r := 0; r < mm; r++ {
					copy(t[r*nr:r*nr+nn], c[off+r*ldc:off+r*ldc+nn])
				}
			}
			fn(kb, apan, bpan, t, nr, alpha, beta)
			for r := 0; r < mm; r++ {
				copy(c[off+r*ldc:off+r*ldc+nn], t[r*nr:r*nr+nn])
			}
		}
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// balance returns the block length, a multiple of t and at most limit (a
// multiple of t), that cuts size into the fewest blocks of nearly equal
// length.
func balance(size, limit, t int) int {
	blocks := (size + limit - 1) / limit
	return roundUp((size+blocks-1)/blocks, t)
}

// partition chooses how to split C among at most threads goroutines: pm
// parts along the rows and pn along the columns, each a whole number of
// tiles. It minimises a simple model of the slowest part's time: its
// multiply-adds plus the packing it repeats. Small products are not split.
func partition[T float](m, n, k int, kern *kernel[T], threads int) (pm, pn int) {
	const minWork = 1 << 18 // multiply-adds below which one goroutine is faster
	if threads <= 1 || m*n*k < minWork {
		return 1, 1
	}
	tm := (m + kern.mr - 1) / kern.mr
	tn := (n + kern.nr - 1) / kern.nr
	if tm*tn < 2 {
		return 1, 1
	}
	threads = min(threads, tm*tn)
	pm, pn = 1, 1
	best := -1.0
	for p := 1; p <= threads; p++ {
		if threads%p != 0 {
			continue
		}
		q := threads / p
		if p > tm || q > tn {
			continue
		}
		rows := float64((tm + p - 1) / p * kern.mr) // rows of the largest part
		cols := float64((tn + q - 1) / q * kern.nr)
		panels := float64((int(cols) + kern.nc - 1) / kern.nc)
		// Unit: the time to pack one element, in which an AVX2 core does
		// about 16 multiply-adds.
		cost := rows*cols*float64(k)/16 + rows*float64(k)*panels + cols*float64(k)
		if best < 0 || cost < best {
			best, pm, pn = cost, p, q
		}
	}
	return pm, pn
}
