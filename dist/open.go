//go:build !mpi || !cgo

package dist

import "fmt"

// Open returns the process group this process was started in. This build has no MPI (it was
// built without -tags mpi, or without cgo), so Open returns Single() for a process started
// alone or by mpirun -np 1, and an error for a process that mpirun started among several:
// running N unconnected copies of the training would be silently wrong.
func Open() (Group, error) {
	n, launched, err := launchedSize()
	if err != nil {
		return nil, err
	}
	if launched && n > 1 {
		return nil, fmt.Errorf("dist: started by mpirun among %d processes, but this binary has no MPI support: build it with -tags mpi and cgo enabled", n)
	}
	return Single(), nil
}

// MPI reports whether this build can join an MPI job: false without -tags mpi or cgo.
func MPI() bool { return false }
