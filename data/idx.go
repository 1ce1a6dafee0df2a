package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// IDX is the content of an IDX file (the format of MNIST and Fashion-MNIST): its dimensions
// and its unsigned bytes in row-major order, len(Data) being the product of Dims.
type IDX struct {
	Name string // the file name given to ReadIDX or ParseIDX, used in error messages
	Dims []int
	Data []byte
}

// idxTypes names the IDX element types; only 0x08 is supported.
var idxTypes = map[byte]string{
	0x08: "unsigned byte", 0x09: "signed byte", 0x0b: "int16",
	0x0c: "int32", 0x0d: "float32", 0x0e: "float64",
}

// ReadIDX reads an IDX file of unsigned bytes, plain or gzip-compressed (recognised by its
// magic bytes, not by its name).
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseIDX(f, path)
}

// ParseIDX reads an IDX stream of unsigned bytes, plain or gzip-compressed; name is used in
// error messages. The header must declare type 0x08 and at least one dimension, every
// dimension at least 1, and the stream must hold exactly the declared number of bytes:
// a short stream, trailing bytes and broken gzip data are errors. Memory grows with the bytes
// actually read, so a corrupt header declaring huge dimensions cannot force a huge allocation.
func ParseIDX(r io.Reader, name string) (*IDX, error) {
	src, err := gunzipped(r)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip: %w", name, err)
	}
	// readErr describes a failed read: broken gzip data, or a short file.
	readErr := func(what string, got int, err error) error {
		if _, ok := errors.AsType[gzipError](err); ok {
			return fmt.Errorf("%s: broken or truncated gzip data while reading the %s: %w", name, what, err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%s: truncated %s: %d bytes", name, what, got)
		}
		return fmt.Errorf("%s: reading the %s: %w", name, what, err)
	}

	var head [4]byte
	if n, err := io.ReadFull(src, head[:]); err != nil {
		return nil, readErr("IDX magic number", n, err)
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, fmt.Errorf("%s: not an IDX file: magic number %#08x does not start with two zero bytes",
			name, binary.BigEndian.Uint32(head[:]))
	}
	if t := head[2]; t != 0x08 {
		kind, ok := idxTypes[t]
		if !ok {
			kind = "unknown"
		}
		return nil, fmt.Errorf("%s: IDX element type %#02x (%s) is not supported, only 0x08 (unsigned byte)", name, t, kind)
	}
	ndims := int(head[3])
	if ndims == 0 {
		return nil, fmt.Errorf("%s: IDX header declares no dimensions", name)
	}
	raw := make([]byte, 4*ndims)
	if n, err := io.ReadFull(src, raw); err != nil {
		return nil, readErr(fmt.Sprintf("header of %d dimensions", ndims), n, err)
	}
	dims := make([]int, ndims)
	size := 1
	for i := range dims {
		d := binary.BigEndian.Uint32(raw[4*i:])
		if d == 0 {
			return nil, fmt.Errorf("%s: IDX dimension %d is 0 (no data)", name, i)
		}
		if uint64(d) > uint64(math.MaxInt/size) {
			return nil, fmt.Errorf("%s: IDX dimensions %s overflow", name, dimString(append(dims[:i], int(d))))
		}
		dims[i] = int(d)
		size *= int(d)
	}

	var buf bytes.Buffer
	buf.Grow(min(size, 64<<10)) // grows further only as data arrives
	got, err := buf.ReadFrom(io.LimitReader(src, int64(size)))
	if err != nil {
		return nil, readErr("data", int(got), err)
	}
	if int(got) < size {
		return nil, fmt.Errorf("%s: truncated: header declares %s = %d data bytes, file has %d",
			name, dimString(dims), size, got)
	}
	// Read to the end: counts trailing bytes and makes gzip verify its checksum.
	extra, err := io.Copy(io.Discard, src)
	if err != nil {
		return nil, readErr("end of the data", size, err)
	}
	if extra > 0 {
		return nil, fmt.Errorf("%s: header declares %s = %d data bytes, file has %d (%d trailing bytes)",
			name, dimString(dims), size, int64(size)+extra, extra)
	}
	return &IDX{Name: name, Dims: dims, Data: buf.Bytes()}, nil
}

// dimString formats dimensions as 60000x28x28.
func dimString(dims []int) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = fmt.Sprint(d)
	}
	return strings.Join(s, "x")
}

// gunzipped returns r, or what it decompresses when it starts with gzip's magic bytes; the
// errors of a gzip stream are then marked as gzipError.
func gunzipped(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return gzipReader{zr}, nil
	}
	return br, nil
}

// gzipReader marks the errors of a gzip stream, so that a broken stream is told apart from a
// well-formed stream that holds too few bytes.
type gzipReader struct{ r io.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = gzipError{err}
	}
	return n, err
}

type gzipError struct{ err error }

func (e gzipError) Error() string { return "gzip: " + e.err.Error() }
func (e gzipError) Unwrap() error { return e.err }
