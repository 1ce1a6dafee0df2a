package gemm

// packA copies the mb x kb block of op(A) that starts at row i0 and column
// p0 into dst as ceil(mb/mr) panels. Panel t holds rows i0+t*mr .. +mr-1 as
// kb consecutive groups of mr values (column p of the panel at dst[t*mr*kb +
// p*mr:]); rows past mb are zero.
func packA[T float](kern *kernel[T], dst, a []T, lda int, trans bool, i0, mb, p0, kb int) {
	// op(A)[i][p] is a[i*lda+p], or a[p*lda+i] (contiguous along i) when trans.
	packPanels(kern.packA, kern.mr, trans, dst, a, lda, i0, mb, p0, kb)
}

// packB copies the kb x nb block of op(B) that starts at row p0 and column
// j0 into dst as ceil(nb/nr) panels. Panel t holds columns j0+t*nr .. +nr-1
// as kb consecutive groups of nr values (row p of the panel at dst[t*nr*kb +
// p*nr:]); columns past nb are zero.
func packB[T float](kern *kernel[T], dst, b []T, ldb int, trans bool, p0, kb, j0, nb int) {
	// op(B)[p][j] is b[p*ldb+j] (contiguous along j), or b[j*ldb+p] when trans.
	packPanels(kern.packB, kern.nr, !trans, dst, b, ldb, j0, nb, p0, kb)
}

// packPanels packs n lines of an operand (rows of op(A) or columns of op(B)),
// l0 .. l0+n-1, over the depth p0 .. p0+kb-1, into ceil(n/w) panels of w
// lines: panel t at dst[t*w*kb:] holds kb groups of w values, zeros past n.
// Line l at depth p is src[p*ld+l] when contiguous, else src[l*ld+p]. pack is
// the kernel's routine (kernel.packA or packB), nil for the portable code.
func packPanels[T float](pack func(d, s []T, ld int, contiguous bool, off, kb, n int), w int,
	contiguous bool, dst, src []T, ld, l0, n, p0, kb int) {
	for lr := 0; lr < n; lr += w {
		lines := min(w, n-lr)
		d := dst[lr*kb : lr*kb+w*kb]
		l := l0 + lr
		switch {
		case contiguous && pack != nil:
			pack(d, src, ld, true, p0*ld+l, kb, lines)
		case contiguous:
			packContiguous(d, src, ld, p0*ld+l, kb, lines, w)
		case lines == w && pack != nil:
			pack(d, src, ld, false, l*ld+p0, kb, w)
		default:
			packStrided(d, src, ld, l*ld+p0, kb, lines, w)
		}
	}
}

// packContiguous packs kb groups of w values; group p is src[off+p*ld:][:n]
// followed by w-n zeros.
func packContiguous[T float](d, src []T, ld, off, kb, n, w int) {
	d = d[:kb*w]
	switch {
	case n == 4 && w == 4:
		for p := 0; p+4 <= len(d); p += 4 {
			g := d[p : p+4 : p+4]
			s := src[off : off+4 : off+4]
			g[0], g[1], g[2], g[3] = s[0], s[1], s[2], s[3]
			off += ld
		}
	default:
		for p := 0; p+w <= len(d); p += w {
			g := d[p : p+w : p+w]
			copy(g, src[off:off+n])
			clear(g[n:])
			off += ld
		}
	}
}

// packStrided packs kb groups of w values where value r of group p is
// src[off+r*ld+p] for r < n and zero for n <= r < w.
func packStrided[T float](d, src []T, ld, off, kb, n, w int) {
	d = d[:kb*w]
	if n == 4 && w == 4 {
		s0 := src[off : off+kb]
		s1 := src[off+ld : off+ld+kb]
		s2 := src[off+2*ld : off+2*ld+kb]
		s3 := src[off+3*ld : off+3*ld+kb]
		for p := range s0 {
			g := d[4*p : 4*p+4 : 4*p+4]
			g[0], g[1], g[2], g[3] = s0[p], s1[p], s2[p], s3[p]
		}
		return
	}
	for r := 0; r < w; r++ {
		if r >= n {
			for p := 0; p < kb; p++ {
				d[p*w+r] = 0
			}
			continue
		}
		s := src[off+r*ld : off+r*ld+kb]
		for p, v := range s {
			d[p*w+r] = v
		}
	}
}
