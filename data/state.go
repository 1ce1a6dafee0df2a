package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The iterators and the vocabulary serialise themselves for checkpoints in one small format:
// a tag naming the type and its version, a sequence of signed varints, and a CRC-32 (IEEE) of
// everything before it, so a truncated or damaged blob is an error rather than a wrong position.

var errCorrupt = errors.New("corrupt state")

// encoder appends varints after a tag.
type encoder struct{ b []byte }

func newEncoder(tag string) *encoder {
	return &encoder{b: append([]byte(nil), tag...)}
}

func (e *encoder) int(v int) { e.b = binary.AppendVarint(e.b, int64(v)) }

func (e *encoder) ints(vs []int) {
	e.int(len(vs))
	for _, v := range vs {
		e.int(v)
	}
}

// bytes returns the encoding with its checksum.
func (e *encoder) bytes() []byte {
	return binary.BigEndian.AppendUint32(e.b, crc32.ChecksumIEEE(e.b))
}

// decoder reads what encoder wrote; the first problem sticks in err and later reads return 0.
type decoder struct {
	b   []byte
	err error
}

// newDecoder checks the tag and the checksum of blob.
func newDecoder(blob []byte, tag string) *decoder {
	if len(blob) < len(tag)+4 || string(blob[:len(tag)]) != tag {
		return &decoder{err: fmt.Errorf("%w: not a %q blob", errCorrupt, tag)}
	}
	body, sum := blob[:len(blob)-4], binary.BigEndian.Uint32(blob[len(blob)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return &decoder{err: fmt.Errorf("%w: checksum mismatch", errCorrupt)}
	}
	return &decoder{b: body[len(tag):]}
}

func (d *decoder) int() int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || v != int64(int(v)) {
		d.err = fmt.Errorf("%w: bad integer", errCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

// ints reads a length-prefixed list. The length is checked against the bytes left (each
// varint takes at least one), so a damaged length cannot cause a giant allocation.
func (d *decoder) ints() []int {
	n := d.int()
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.err = fmt.Errorf("%w: list length %d with %d bytes left", errCorrupt, n, len(d.b))
		return nil
	}
	vs := make([]int, n)
	for i := range vs {
		vs[i] = d.int()
	}
	return vs
}

// finish reports the first error, or trailing bytes.
func (d *decoder) finish() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	return d.err
}

// isPerm reports whether p holds each of 0..n-1 exactly once.
func isPerm(p []int, n int) bool {
	if len(p) != n {
		return false
	}
	seen := make([]bool, n)
	for _, v := range p {
		if v < 0 || v >= n || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

// position is where a batch iterator over a set is: its epoch, the position in the epoch's
// order of the next item, and that order (nil until drawn).
type position struct {
	epoch int
	pos   int
	order []int
}

// left returns the number of batches left in the current pass of an iterator over n items
// in batches of size (the last one short unless dropLast).
func (p *position) left(n, size int, dropLast bool) int {
	rest := n - p.pos
	if dropLast {
		return rest / size
	}
	return (rest + size - 1) / size
}

// next starts the next pass: the next epoch, from its start, its order not drawn yet.
func (p *position) next() {
	p.epoch++
	p.pos, p.order = 0, nil
}

// marshalPosition encodes p, of an iterator over n items in batches of size.
func marshalPosition(tag string, n, size int, p position) []byte {
	e := newEncoder(tag)
	for _, v := range []int{n, size, p.epoch, p.pos} {
		e.int(v)
	}
	e.ints(p.order)
	return e.bytes()
}

// unmarshalPosition decodes what marshalPosition wrote, for an iterator over n items (named
// items in errors) in batches of size that draws random orders when shuffles. The blob must
// be for as many items in batches of the same size, at the start of a batch or the end of
// the epoch, with a permutation of the items as its order, an identity one if !shuffles.
func unmarshalPosition(blob []byte, tag string, n, size int, shuffles bool, items string) (position, error) {
	d := newDecoder(blob, tag)
	bn, bsize, epoch, pos := d.int(), d.int(), d.int(), d.int()
	order := d.ints()
	if err := d.finish(); err != nil {
		return position{}, err
	}
	switch {
	case bn != n || bsize != size:
		return position{}, fmt.Errorf("state is for %d %s in batches of %d, iterator has %d in batches of %d", bn, items, bsize, n, size)
	case epoch < 0 || pos < 0 || pos > n || pos%size != 0 && pos != n:
		return position{}, fmt.Errorf("%w: epoch %d, position %d of %d in batches of %d", errCorrupt, epoch, pos, n, size)
	case len(order) == 0 && pos == 0:
		order = nil // not drawn yet
	case !isPerm(order, n):
		return position{}, fmt.Errorf("%w: order is not a permutation of %d %s", errCorrupt, n, items)
	}
	if !shuffles && order != nil && !isIdentity(order) {
		return position{}, errors.New("state has a shuffled order but the iterator does not shuffle")
	}
	return position{epoch: epoch, pos: pos, order: order}, nil
}

// isIdentity reports whether p is 0, 1, ..., len(p)-1.
func isIdentity(p []int) bool {
	for i, v := range p {
		if v != i {
			return false
		}
	}
	return true
}
