package gemm

import "github.com/unroll-ml/unroll/internal/compute"

// packNative packs p.b for kern: for each block q of the kc-blocking of k (the one a
// job chooses, see newJob), all ceil(n/nr) panels of op(B) rows q·kc.., as packB lays them
// out, one after the other; block q starts at q·kc·roundUp(n, nr).
func packNative(p *PackedB, kern *kernel[float32]) {
	p.kern = kern
	if p.k == 0 || p.n == 0 {
		p.data = p.data[:0]
		return
	}
	nk := (p.k + kern.kc - 1) / kern.kc
	p.kc = (p.k + nk - 1) / nk
	np := roundUp(p.n, kern.nr)
	if need := p.k * np; cap(p.data) < need {
		p.data = make([]float32, need)
	}
	p.data = p.data[:p.k*np]
	for pc := 0; pc < p.k; pc += p.kc {
		kb := min(p.kc, p.k-pc)
		packB(kern, p.data[pc*np:pc*np+np*kb], p.b, p.ldb, p.transB, pc, kb, 0, p.n)
	}
}

// sgemmPackedNative computes the product with the kernel p was packed for.
func sgemmPackedNative(transA bool, m int, alpha float32, a []float32, lda int, p *PackedB, beta float32, c []float32, ldc int) {
	kern := p.kern
	if p.k == 0 || alpha == 0 {
		scaleC(m, p.n, beta, c, ldc)
		return
	}
	j := newJob(kern, transA, false, m, p.n, p.k, alpha, a, lda, nil, 0, beta, c, ldc)
	j.pm, j.pn = partition(m, p.n, p.k, kern, compute.Threads())
	pj := &packedJob{job: j, p: p}
	compute.Parts(j.pm*j.pn, pj.runPart)
}

// packedJob runs a job whose B is packed already.
type packedJob struct {
	job *job[float32]
	p   *PackedB
}

// runPart computes part p of C as job.block does, taking the panels of B from the packing:
// the same tiles, the same blocks of k and the same kernel, so the same sums.
func (pj *packedJob) runPart(part int) {
	j, p := pj.job, pj.p
	kern := j.kern
	mr, nr := kern.mr, kern.nr
	pi, pjj := part/j.pn, part%j.pn
	i0, i1 := span(pi, j.pm, j.m, mr)
	j0, j1 := span(pjj, j.pn, j.n, nr)
	if i0 >= i1 || j0 >= j1 {
		return
	}
	mc := balance(i1-i0, kern.mc, mr)
	ws := newWorkspace[float32](mc*j.kc, 0, mr*nr)
	defer ws.release()
	np := roundUp(j.n, nr)
	nb := j1 - j0
	for pc := 0; pc < j.k; pc += j.kc {
		kb := min(j.kc, j.k-pc)
		beta := j.beta
		if pc > 0 {
			beta = 1
		}
		block := p.data[pc*np : pc*np+np*kb]
		bp := block[j0*kb : (j0+roundUp(nb, nr))*kb]
		for ic := i0; ic < i1; ic += mc {
			mb := min(mc, i1-ic)
			ap, direct := j.blockA(&ws, ic, mb, pc, kb)
			j.macro(&ws, ap, direct, bp, ic, mb, j0, nb, pc, kb, beta)
		}
	}
}
