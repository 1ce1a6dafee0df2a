package gemm

// packA copies the mb x kb block of op(A) that starts at row i0 and column
// p0 into dst as ceil(mb/mr) panels. Panel t holds rows i0+t*mr .. +mr-1 as
// kb consecutive groups of mr values (column p of the panel at dst[t*mr*kb +
// p*mr:]); rows past mb are zero.
func packA[T float](kern *kernel[T], dst, a []T, lda int, trans bool, i0, mb, p0, kb int) {
	mr := kern.mr
	for ir := 0; ir < mb; ir += mr {
		rows := min(mr, mb-ir)
		d := dst[ir*kb : ir*kb+mr*kb]
		i := i0 + ir
		switch {
		case trans && kern.packA != nil:
			kern.packA(d, a, lda, true, p0*lda+i, kb, rows)
		case trans:
			// op(A)[i][p] = a[p*lda+i]: each column is contiguous.
			packContiguous(d, a, lda, p0*lda+i, kb, rows, mr)
		case rows == mr && kern.packA != nil:
			kern.packA(d, a, lda, false, i*lda+p0, kb, mr)
		default:
			packStrided(d, a, lda, i*lda+p0, kb, rows, mr)
		}
	}
}

// packB copies the kb x nb block of op(B) that starts at row p0 and column
// j0 into dst as ceil(nb/nr) panels. Panel t holds columns j0+t*nr .. +nr-1
// as kb consecutive groups of nr values (row p of the panel at dst[t*nr*kb +
// p*nr:]); columns past nb are zero.
func packB[T float](kern *kernel[T], dst, b []T, ldb int, trans bool, p0, kb, j0, nb int) {
	nr := kern.nr
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		d := dst[jr*kb : jr*kb+nr*kb]
		j := j0 + jr
		switch {
		case !trans && kern.packB != nil:
			kern.packB(d, b, ldb, false, p0*ldb+j, kb, cols)
		case !trans:
			// op(B)[p][j] = b[p*ldb+j]: each row is contiguous.
			packContiguous(d, b, ldb, p0*ldb+j, kb, cols, nr)
		case cols == nr && kern.packB != nil:
			kern.packB(d, b, ldb, true, j*ldb+p0, kb, nr)
		default:
			// op(B)[p][j] = b[j*ldb+p]: each column of op(B) is contiguous.
			packStrided(d, b, ldb, j*ldb+p0, kb, cols, nr)
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
