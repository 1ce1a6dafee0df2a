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
