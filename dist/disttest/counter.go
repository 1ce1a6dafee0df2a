package disttest

import (
	"sync"

	"github.com/unroll-ml/unroll/dist"
)

// Op names an operation of dist.Group that a Counter counts.
type Op string

// The operations a Counter counts.
const (
	AllReduceSum32 Op = "AllReduceSum32"
	AllReduceSum64 Op = "AllReduceSum64"
	Broadcast32    Op = "Broadcast32"
	Broadcast64    Op = "Broadcast64"
	BroadcastBytes Op = "BroadcastBytes"
	GatherBytes    Op = "GatherBytes"
	Barrier        Op = "Barrier"
)

// Counter is a dist.Group that passes every operation on to another group and records, per
// operation, the length of each call's buffer: elements for the float operations, bytes for
// BroadcastBytes (the length of root's blob, as received) and GatherBytes (this rank's blob),
// 0 for Barrier. A call is recorded whether or not it fails. It is safe for concurrent use.
type Counter struct {
	dist.Group
	mu      sync.Mutex
	lengths map[Op][]int
}

// NewCounter returns a Counter over g with nothing recorded.
func NewCounter(g dist.Group) *Counter {
	return &Counter{Group: g, lengths: map[Op][]int{}}
}

func (c *Counter) record(op Op, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lengths[op] = append(c.lengths[op], n)
}

// Calls returns the number of calls of op since the Counter was made or Reset.
func (c *Counter) Calls(op Op) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lengths[op])
}

// Elements returns the sum of the lengths of the calls of op.
func (c *Counter) Elements(op Op) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lengths[op] {
		n += l
	}
	return n
}

// Lengths returns the length of each call of op, in the order of the calls.
func (c *Counter) Lengths(op Op) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.lengths[op]...)
}

// Reset forgets every recorded call.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lengths = map[Op][]int{}
}

// AllReduceSum32 records the call and passes it on.
func (c *Counter) AllReduceSum32(buf []float32) error {
	c.record(AllReduceSum32, len(buf))
	return c.Group.AllReduceSum32(buf)
}

// AllReduceSum64 records the call and passes it on.
func (c *Counter) AllReduceSum64(buf []float64) error {
	c.record(AllReduceSum64, len(buf))
	return c.Group.AllReduceSum64(buf)
}

// Broadcast32 records the call and passes it on.
func (c *Counter) Broadcast32(buf []float32, root int) error {
	c.record(Broadcast32, len(buf))
	return c.Group.Broadcast32(buf, root)
}

// Broadcast64 records the call and passes it on.
func (c *Counter) Broadcast64(buf []float64, root int) error {
	c.record(Broadcast64, len(buf))
	return c.Group.Broadcast64(buf, root)
}

// BroadcastBytes passes the call on and records the length of the blob received.
func (c *Counter) BroadcastBytes(blob []byte, root int) ([]byte, error) {
	out, err := c.Group.BroadcastBytes(blob, root)
	c.record(BroadcastBytes, len(out))
	return out, err
}

// GatherBytes records the call and passes it on.
func (c *Counter) GatherBytes(blob []byte) ([][]byte, error) {
	c.record(GatherBytes, len(blob))
	return c.Group.GatherBytes(blob)
}

// Barrier records the call and passes it on.
func (c *Counter) Barrier() error {
	c.record(Barrier, 0)
	return c.Group.Barrier()
}
