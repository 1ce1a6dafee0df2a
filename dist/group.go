package dist

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Group is a set of processes (ranks 0 to Size()-1) that train one model together. Every
// operation except Rank and Size is collective: each rank of the group must call the same
// operations in the same order, with buffers of the same length (the root's blob aside), or
// the job hangs or computes garbage. The group cannot check that contract (Agree can, for
// a description of what the ranks are about to exchange). Operations are safe to call from
// several goroutines, but a group runs them one at a time.
//
// An operation that fails returns an error naming it; the group is then in an undefined state
// and the process should end with a non-zero exit status (see the package documentation).
type Group interface {
	// Rank is this process's number in the group, 0 to Size()-1. Rank 0 is the one that
	// prints, writes checkpoints and receives gathers.
	Rank() int
	// Size is the number of processes in the group.
	Size() int
	// AllReduceSum32 replaces buf, on every rank, by the element-wise sum of every rank's buf.
	AllReduceSum32(buf []float32) error
	// AllReduceSum64 is AllReduceSum32 for float64.
	AllReduceSum64(buf []float64) error
	// Broadcast32 copies root's buf into every other rank's buf.
	Broadcast32(buf []float32, root int) error
	// Broadcast64 is Broadcast32 for float64.
	Broadcast64(buf []float64, root int) error
	// BroadcastBytes returns root's blob on every rank, whatever its length; the other ranks'
	// blob is ignored (pass nil). On root it returns blob itself.
	BroadcastBytes(blob []byte, root int) ([]byte, error)
	// GatherBytes returns, on rank 0, every rank's blob in rank order (the blobs may differ in
	// length; rank 0's own entry is a copy). On the other ranks it returns nil.
	GatherBytes(blob []byte) ([][]byte, error)
	// Barrier returns once every rank has called it.
	Barrier() error
	// Close ends the group; every rank must call it, and only after its last operation. Any
	// operation after Close returns ErrClosed. A rank that has failed must not call Close
	// (with MPI it waits for every other rank) but Abort, or exit with a non-zero status.
	Close() error
	// Abort ends every process of the group with the exit status code, at once, and does not
	// return: a rank that cannot go on calls it so that the others do not wait for it forever
	// in a collective. Only a program's main package should call it.
	Abort(code int)
}

// ErrClosed is returned by the operations of a group after Close.
var ErrClosed = errors.New("dist: group is closed")

// Single returns the group of one process: rank 0 of 1, whose all-reduces and broadcasts leave
// their buffers as they are and whose gather returns the one blob. It needs no MPI.
func Single() Group { return &single{} }

type single struct {
	mu     sync.Mutex
	closed bool
}

func (s *single) Rank() int { return 0 }
func (s *single) Size() int { return 1 }

// check returns ErrClosed after Close and validates root, if the operation has one.
func (s *single) check(op string, root int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return CheckRoot(op, root, 1)
}

func (s *single) AllReduceSum32([]float32) error { return s.check("all-reduce", 0) }
func (s *single) AllReduceSum64([]float64) error { return s.check("all-reduce", 0) }

func (s *single) Broadcast32(_ []float32, root int) error { return s.check("broadcast", root) }
func (s *single) Broadcast64(_ []float64, root int) error { return s.check("broadcast", root) }

func (s *single) BroadcastBytes(blob []byte, root int) ([]byte, error) {
	if err := s.check("broadcast", root); err != nil {
		return nil, err
	}
	return blob, nil
}

func (s *single) GatherBytes(blob []byte) ([][]byte, error) {
	if err := s.check("gather", 0); err != nil {
		return nil, err
	}
	return [][]byte{bytes.Clone(nonNil(blob))}, nil
}

func (s *single) Barrier() error { return s.check("barrier", 0) }

func (s *single) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return nil
}

// Abort ends the process with status code.
func (s *single) Abort(code int) { os.Exit(code) }

// nonNil returns b, or an empty slice if b is nil, so that gathered blobs are never nil.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CheckRoot returns an error naming the operation unless root is a rank of a group of size
// processes. Implementations of Group call it before any communication, so that a bad root is
// a Go error on every rank instead of a failure inside MPI.
func CheckRoot(op string, root, size int) error {
	if root < 0 || root >= size {
		return fmt.Errorf("dist: %s from root %d: the group has ranks 0 to %d", op, root, size-1)
	}
	return nil
}

// launchedSize returns the number of processes OpenMPI's mpirun (or mpiexec) started this one
// among, read from OMPI_COMM_WORLD_SIZE, which the launcher sets; ok is false when the
// process was not started by mpirun.
func launchedSize() (size int, ok bool, err error) {
	v, ok := os.LookupEnv("OMPI_COMM_WORLD_SIZE")
	if !ok {
		return 0, false, nil
	}
	size, err = strconv.Atoi(strings.TrimSpace(v))
	if err != nil || size < 1 {
		return 0, false, fmt.Errorf("dist: OMPI_COMM_WORLD_SIZE is %q, not a process count", v)
	}
	return size, true, nil
}

// Agree returns nil on every rank if every rank passed the same blob, and otherwise, on every
// rank, an error naming what (a description of the blob, such as "parameter layout") and the
// ranks whose blob differs from rank 0's. It is collective. Callers pass a small description
// of what the ranks are about to exchange (names and shapes of the parameters, say) before
// collectives whose lengths must match, so that a mismatch is an error and not a hang.
func Agree(g Group, what string, blob []byte) error {
	ref, err := g.BroadcastBytes(blob, 0)
	if err != nil {
		return fmt.Errorf("dist: agree on %s: %w", what, err)
	}
	differs := make([]float64, g.Size())
	if !bytes.Equal(ref, blob) {
		differs[g.Rank()] = 1
	}
	if err := g.AllReduceSum64(differs); err != nil {
		return fmt.Errorf("dist: agree on %s: %w", what, err)
	}
	var ranks []string
	for r, d := range differs {
		if d != 0 {
			ranks = append(ranks, strconv.Itoa(r))
		}
	}
	switch len(ranks) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("dist: %s of rank %s differs from rank 0's", what, ranks[0])
	}
	return fmt.Errorf("dist: %s of ranks %s differs from rank 0's", what, strings.Join(ranks, ", "))
}
