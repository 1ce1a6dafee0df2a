//go:build mpi && cgo

package dist

/*
#cgo pkg-config: ompi-c
#include <stdint.h>
#include <mpi.h>

enum { DIST_FLOAT, DIST_DOUBLE, DIST_BYTE, DIST_INT64 };

static MPI_Datatype dist_type(int kind) {
	switch (kind) {
	case DIST_FLOAT: return MPI_FLOAT;
	case DIST_DOUBLE: return MPI_DOUBLE;
	case DIST_INT64: return MPI_INT64_T;
	}
	return MPI_BYTE;
}

static int dist_init(int *provided) {
	return MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, provided);
}

static int dist_serialized(void) { return MPI_THREAD_SERIALIZED; }

// dist_returns makes errors on comm return instead of aborting the job.
static int dist_returns(MPI_Comm comm) { return MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN); }

static MPI_Comm dist_world(void) { return MPI_COMM_WORLD; }

static int dist_allreduce_sum(MPI_Comm comm, void *buf, int n, int kind) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, dist_type(kind), MPI_SUM, comm);
}

static int dist_bcast(MPI_Comm comm, void *buf, int n, int kind, int root) {
	return MPI_Bcast(buf, n, dist_type(kind), root, comm);
}

static int dist_allgather_int64(MPI_Comm comm, int64_t *mine, int64_t *all) {
	return MPI_Allgather(mine, 1, MPI_INT64_T, all, 1, MPI_INT64_T, comm);
}

static int dist_gatherv_bytes(MPI_Comm comm, void *send, int n, void *recv, int *counts, int *displs) {
	return MPI_Gatherv(send, n, MPI_BYTE, recv, counts, displs, MPI_BYTE, 0, comm);
}

static void dist_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
*/
import "C"

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"sync"
	"unsafe"
)

// Open returns the process group this process was started in: the MPI group of every process
// of the job when mpirun (or mpiexec) of OpenMPI started it, and Single() when the process was
// started alone. A process opens MPI at most once: after the group's Close, MPI cannot start
// again and Open returns an error.
func Open() (Group, error) {
	_, launched, err := launchedSize()
	if err != nil {
		return nil, err
	}
	if !launched {
		return Single(), nil
	}
	return openMPI()
}

// MPI reports whether this build can join an MPI job: true with -tags mpi and cgo.
func MPI() bool { return true }

// mpiState records whether this process has initialised MPI, which it may do only once.
var mpiState struct {
	sync.Mutex
	started bool
}

func openMPI() (Group, error) {
	mpiState.Lock()
	defer mpiState.Unlock()
	if mpiState.started {
		return nil, fmt.Errorf("dist: MPI was already opened in this process (a process opens it once)")
	}
	mpiState.started = true
	var provided C.int
	if rc := C.dist_init(&provided); rc != C.MPI_SUCCESS {
		return nil, mpiError("MPI_Init_thread", rc)
	}
	if provided < C.dist_serialized() {
		C.MPI_Finalize()
		return nil, fmt.Errorf("dist: MPI_Init_thread: this MPI library provides thread level %d, below MPI_THREAD_SERIALIZED", int(provided))
	}
	// Errors on MPI_COMM_WORLD return, and the group works on a duplicate of it (which inherits
	// that), so that its messages never meet those of other code using MPI in this process.
	g := &mpiGroup{maxCount: math.MaxInt32}
	var rank, size C.int
	for _, step := range []struct {
		call string
		run  func() C.int
	}{
		{"MPI_Comm_set_errhandler", func() C.int { return C.dist_returns(C.dist_world()) }},
		{"MPI_Comm_dup", func() C.int { return C.MPI_Comm_dup(C.dist_world(), &g.comm) }},
		{"MPI_Comm_set_errhandler", func() C.int { return C.dist_returns(g.comm) }},
		{"MPI_Comm_rank", func() C.int { return C.MPI_Comm_rank(g.comm, &rank) }},
		{"MPI_Comm_size", func() C.int { return C.MPI_Comm_size(g.comm, &size) }},
	} {
		if rc := step.run(); rc != C.MPI_SUCCESS {
			return nil, mpiError(step.call, rc)
		}
	}
	g.rank, g.size = int(rank), int(size)
	return g, nil
}

// mpiGroup is a Group over a duplicate of MPI_COMM_WORLD.
type mpiGroup struct {
	mu         sync.Mutex // held by every operation: MPI_THREAD_SERIALIZED
	comm       C.MPI_Comm
	rank, size int
	closed     bool
	// maxCount is the largest count of one MPI call (MPI counts are C ints). Buffers longer
	// than that are sent in several calls; tests lower it to exercise the split.
	maxCount int
}

func (g *mpiGroup) Rank() int { return g.rank }
func (g *mpiGroup) Size() int { return g.size }

// lock takes the group's mutex and returns ErrClosed after Close; the caller unlocks it when
// lock returns nil.
func (g *mpiGroup) lock() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// mpiError turns an MPI error code into an error naming the call and MPI's message.
func mpiError(call string, rc C.int) error {
	buf := make([]byte, C.MPI_MAX_ERROR_STRING)
	var n C.int
	if C.MPI_Error_string(rc, (*C.char)(unsafe.Pointer(&buf[0])), &n) != C.MPI_SUCCESS {
		return fmt.Errorf("dist: %s: MPI error code %d", call, int(rc))
	}
	return fmt.Errorf("dist: %s: %s", call, bytes.TrimRight(buf[:n], "\x00"))
}

// chunked runs call over buf in pieces of at most g.maxCount elements.
func chunked[T any](g *mpiGroup, name string, buf []T, call func(p unsafe.Pointer, n C.int) C.int) error {
	for off := 0; off < len(buf); off += g.maxCount {
		n := min(g.maxCount, len(buf)-off)
		if rc := call(unsafe.Pointer(&buf[off]), C.int(n)); rc != C.MPI_SUCCESS {
			return mpiError(name, rc)
		}
	}
	return nil
}

func allReduceSum[T float32 | float64](g *mpiGroup, buf []T, kind C.int) error {
	if err := g.lock(); err != nil {
		return err
	}
	defer g.mu.Unlock()
	return chunked(g, "MPI_Allreduce", buf, func(p unsafe.Pointer, n C.int) C.int {
		return C.dist_allreduce_sum(g.comm, p, n, kind)
	})
}

func (g *mpiGroup) AllReduceSum32(buf []float32) error { return allReduceSum(g, buf, C.DIST_FLOAT) }
func (g *mpiGroup) AllReduceSum64(buf []float64) error { return allReduceSum(g, buf, C.DIST_DOUBLE) }

// bcast broadcasts buf from root; the caller holds the lock and has checked root.
func bcast[T any](g *mpiGroup, buf []T, kind C.int, root int) error {
	return chunked(g, "MPI_Bcast", buf, func(p unsafe.Pointer, n C.int) C.int {
		return C.dist_bcast(g.comm, p, n, kind, C.int(root))
	})
}

func broadcast[T float32 | float64](g *mpiGroup, buf []T, kind C.int, root int) error {
	if err := CheckRoot("broadcast", root, g.size); err != nil {
		return err
	}
	if err := g.lock(); err != nil {
		return err
	}
	defer g.mu.Unlock()
	return bcast(g, buf, kind, root)
}

func (g *mpiGroup) Broadcast32(buf []float32, root int) error {
	return broadcast(g, buf, C.DIST_FLOAT, root)
}

func (g *mpiGroup) Broadcast64(buf []float64, root int) error {
	return broadcast(g, buf, C.DIST_DOUBLE, root)
}

// BroadcastBytes sends the length first, then the bytes.
func (g *mpiGroup) BroadcastBytes(blob []byte, root int) ([]byte, error) {
	if err := CheckRoot("broadcast", root, g.size); err != nil {
		return nil, err
	}
	if err := g.lock(); err != nil {
		return nil, err
	}
	defer g.mu.Unlock()
	n := []int64{int64(len(blob))}
	if err := bcast(g, n, C.DIST_INT64, root); err != nil {
		return nil, err
	}
	if g.rank != root {
		blob = make([]byte, n[0])
	}
	if err := bcast(g, blob, C.DIST_BYTE, root); err != nil {
		return nil, err
	}
	return nonNil(blob), nil
}

// GatherBytes first gathers every rank's length on every rank (MPI_Allgather rather than
// MPI_Gather, so that every rank can work out the same split of the transfer), then the bytes
// with MPI_Gatherv, in rounds of at most maxCount bytes in all: Gatherv's counts and
// displacements are C ints. Blobs whose total fits in maxCount take one round.
func (g *mpiGroup) GatherBytes(blob []byte) ([][]byte, error) {
	if err := g.lock(); err != nil {
		return nil, err
	}
	defer g.mu.Unlock()
	sizes := make([]int64, g.size)
	mine := C.int64_t(len(blob))
	if rc := C.dist_allgather_int64(g.comm, &mine, (*C.int64_t)(unsafe.Pointer(&sizes[0]))); rc != C.MPI_SUCCESS {
		return nil, mpiError("MPI_Allgather", rc)
	}
	per := int64(max(1, g.maxCount/g.size))
	var out [][]byte
	if g.rank == 0 {
		out = make([][]byte, g.size)
		for r, n := range sizes {
			out[r] = make([]byte, n)
		}
	}
	counts, displs := make([]C.int, g.size), make([]C.int, g.size)
	var recv []byte
	for off := int64(0); off < slicesMax(sizes); off += per {
		total := 0
		for r, n := range sizes {
			counts[r], displs[r] = C.int(min(max(n-off, 0), per)), C.int(total)
			total += int(counts[r])
		}
		var send, into unsafe.Pointer
		if counts[g.rank] > 0 {
			send = unsafe.Pointer(&blob[off])
		}
		if g.rank == 0 && total > 0 {
			if cap(recv) < total {
				recv = make([]byte, total)
			}
			recv = recv[:total]
			into = unsafe.Pointer(&recv[0])
		}
		rc := C.dist_gatherv_bytes(g.comm, send, counts[g.rank], into, &counts[0], &displs[0])
		if rc != C.MPI_SUCCESS {
			return nil, mpiError("MPI_Gatherv", rc)
		}
		for r := range out {
			if counts[r] > 0 {
				copy(out[r][off:], recv[displs[r]:displs[r]+counts[r]])
			}
		}
	}
	return out, nil
}

func slicesMax(s []int64) int64 {
	var m int64
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

func (g *mpiGroup) Barrier() error {
	if err := g.lock(); err != nil {
		return err
	}
	defer g.mu.Unlock()
	if rc := C.MPI_Barrier(g.comm); rc != C.MPI_SUCCESS {
		return mpiError("MPI_Barrier", rc)
	}
	return nil
}

// Close frees the group's communicator and finalizes MPI (MPI_Finalize waits for every rank).
func (g *mpiGroup) Close() error {
	if err := g.lock(); err != nil {
		return err
	}
	defer g.mu.Unlock()
	g.closed = true
	if rc := C.MPI_Comm_free(&g.comm); rc != C.MPI_SUCCESS {
		return mpiError("MPI_Comm_free", rc)
	}
	if rc := C.MPI_Finalize(); rc != C.MPI_SUCCESS {
		return mpiError("MPI_Finalize", rc)
	}
	return nil
}

// Abort calls MPI_Abort on MPI_COMM_WORLD, which makes mpirun end every process of the job. It
// does not take the group's lock: another goroutine may be waiting inside a collective.
func (g *mpiGroup) Abort(code int) {
	C.dist_abort(C.int(code))
	os.Exit(code) // not reached: MPI_Abort does not return
}
