package disttest

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/unroll-ml/unroll/dist"
)

// Local returns n groups that are the ranks 0 to n-1 of one job inside this process, for
// tests of data-parallel code without MPI: each rank is used from its own goroutine, one
// goroutine per rank (RunLocal does that), and the ranks exchange their buffers through memory. Sums are taken in rank
// order. Unlike MPI, a Local group checks the contract of dist.Group: ranks that call
// different operations, different roots or buffers of different lengths at the same point get
// an error naming them, on every rank. Abort ends the calling goroutine (runtime.Goexit), and
// the other ranks' operations then fail with an error naming the rank and its status.
func Local(n int) ([]dist.Group, error) {
	if n < 1 {
		return nil, fmt.Errorf("disttest: a group needs at least 1 rank, not %d", n)
	}
	h := &hub{n: n, slots: make([]entry, n)}
	h.cond.L = &h.mu
	gs := make([]dist.Group, n)
	for r := range gs {
		gs[r] = &local{hub: h, rank: r}
	}
	return gs, nil
}

// RunLocal runs f on each rank of Local(n), each in its own goroutine, waits for every rank
// and returns their errors joined, each prefixed with its rank. A rank that calls Abort ends
// with an error naming its status.
func RunLocal(n int, f func(g dist.Group) error) error {
	gs, err := Local(n)
	if err != nil {
		return err
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r, g := range gs {
		wg.Go(func() {
			returned := false
			defer func() {
				switch l := g.(*local); {
				case l.aborted:
					errs[r] = fmt.Errorf("rank %d: aborted with status %d", r, l.abortCode)
				case !returned:
					errs[r] = fmt.Errorf("rank %d: ended without returning (runtime.Goexit)", r)
				}
			}()
			if err := f(g); err != nil {
				errs[r] = fmt.Errorf("rank %d: %w", r, err)
			}
			returned = true
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// entry is what one rank brings to a collective.
type entry struct {
	op   Op
	root int
	val  any
}

// hub is the memory the ranks of a Local job meet in.
type hub struct {
	n       int
	mu      sync.Mutex
	cond    sync.Cond
	gen     uint64  // number of completed exchanges
	arrived int     // ranks waiting in the current exchange
	slots   []entry // their entries
	last    []entry // the entries of the last completed exchange
	closed  int     // a rank that has closed, plus one (0: none)
	aborted int     // a rank that has aborted, plus one (0: none)
	status  int     // its exit status
}

// exchange waits until every rank has brought its entry and returns all of them in rank
// order. A rank that starts the next exchange early writes to slots, never to the last
// exchange's entries, and the next exchange cannot complete before every rank has arrived.
func (h *hub) exchange(rank int, e entry) ([]entry, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.dead(); err != nil {
		return nil, err
	}
	h.slots[rank] = e
	h.arrived++
	if h.arrived == h.n {
		h.last = slices.Clone(h.slots)
		h.arrived = 0
		h.gen++
		h.cond.Broadcast()
		return h.last, nil
	}
	for gen := h.gen; h.gen == gen; {
		if err := h.dead(); err != nil {
			return nil, err
		}
		h.cond.Wait()
	}
	return h.last, nil
}

// dead returns an error once a rank has aborted or closed the group; the caller holds mu.
func (h *hub) dead() error {
	switch {
	case h.aborted > 0:
		return fmt.Errorf("disttest: rank %d aborted with status %d", h.aborted-1, h.status)
	case h.closed > 0:
		return fmt.Errorf("disttest: rank %d has closed the group", h.closed-1)
	}
	return nil
}

// local is one rank of a Local job.
type local struct {
	hub       *hub
	rank      int
	closed    bool
	aborted   bool
	abortCode int
}

func (l *local) Rank() int { return l.rank }
func (l *local) Size() int { return l.hub.n }

// meet checks the rank's own state, exchanges e and checks that every rank called the same
// operation with the same root.
func (l *local) meet(e entry) ([]entry, error) {
	if l.closed {
		return nil, dist.ErrClosed
	}
	all, err := l.hub.exchange(l.rank, e)
	if err != nil {
		return nil, err
	}
	for r, o := range all {
		if o.op != all[0].op {
			return nil, fmt.Errorf("disttest: rank 0 called %s while rank %d called %s", all[0].op, r, o.op)
		}
		if o.root != all[0].root {
			return nil, fmt.Errorf("disttest: %s: rank 0 gave root %d, rank %d gave root %d", e.op, all[0].root, r, o.root)
		}
	}
	return all, nil
}

// sameLengths returns an error unless every rank's buffer has the same length.
func sameLengths[T any](op Op, all []entry) error {
	for r, e := range all {
		if n, n0 := len(e.val.([]T)), len(all[0].val.([]T)); n != n0 {
			return fmt.Errorf("disttest: %s: rank 0 has %d elements, rank %d has %d", op, n0, r, n)
		}
	}
	return nil
}

func allReduceSum[T float32 | float64](l *local, op Op, buf []T) error {
	all, err := l.meet(entry{op: op, val: slices.Clone(buf)})
	if err != nil {
		return err
	}
	if err := sameLengths[T](op, all); err != nil {
		return err
	}
	for i := range buf {
		var s T
		for _, e := range all {
			s += e.val.([]T)[i]
		}
		buf[i] = s
	}
	return nil
}

func (l *local) AllReduceSum32(buf []float32) error { return allReduceSum(l, AllReduceSum32, buf) }
func (l *local) AllReduceSum64(buf []float64) error { return allReduceSum(l, AllReduceSum64, buf) }

func broadcast[T float32 | float64](l *local, op Op, buf []T, root int) error {
	if err := dist.CheckRoot("broadcast", root, l.hub.n); err != nil {
		return err
	}
	all, err := l.meet(entry{op: op, root: root, val: slices.Clone(buf)})
	if err != nil {
		return err
	}
	if err := sameLengths[T](op, all); err != nil {
		return err
	}
	copy(buf, all[root].val.([]T))
	return nil
}

func (l *local) Broadcast32(buf []float32, root int) error {
	return broadcast(l, Broadcast32, buf, root)
}

func (l *local) Broadcast64(buf []float64, root int) error {
	return broadcast(l, Broadcast64, buf, root)
}

func (l *local) BroadcastBytes(blob []byte, root int) ([]byte, error) {
	if err := dist.CheckRoot("broadcast", root, l.hub.n); err != nil {
		return nil, err
	}
	all, err := l.meet(entry{op: BroadcastBytes, root: root, val: bytes.Clone(blob)})
	if err != nil {
		return nil, err
	}
	if l.rank == root {
		return nonNil(blob), nil
	}
	return nonNil(bytes.Clone(all[root].val.([]byte))), nil
}

func (l *local) GatherBytes(blob []byte) ([][]byte, error) {
	all, err := l.meet(entry{op: GatherBytes, val: bytes.Clone(blob)})
	if err != nil || l.rank != 0 {
		return nil, err
	}
	out := make([][]byte, len(all))
	for r, e := range all {
		out[r] = nonNil(bytes.Clone(e.val.([]byte)))
	}
	return out, nil
}

func (l *local) Barrier() error {
	_, err := l.meet(entry{op: Barrier})
	return err
}

// Close marks this rank closed; the other ranks' later operations fail.
func (l *local) Close() error {
	if l.closed {
		return dist.ErrClosed
	}
	l.closed = true
	h := l.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed == 0 {
		h.closed = l.rank + 1
	}
	h.cond.Broadcast()
	return nil
}

// Abort fails every other rank's operations and ends the calling goroutine.
func (l *local) Abort(code int) {
	l.aborted, l.abortCode = true, code
	h := l.hub
	h.mu.Lock()
	if h.aborted == 0 {
		h.aborted, h.status = l.rank+1, code
	}
	h.cond.Broadcast()
	h.mu.Unlock()
	runtime.Goexit()
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
