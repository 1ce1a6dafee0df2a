//go:build mpi && cgo

package dist

// SetMaxCount sets the largest count of one MPI call of g, an MPI group, so that tests can
// exercise the split of long buffers into several calls; it returns a function that restores
// the count.
func SetMaxCount(g Group, n int) (restore func()) {
	m := g.(*mpiGroup)
	old := m.maxCount
	m.maxCount = n
	return func() { m.maxCount = old }
}
