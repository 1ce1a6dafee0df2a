package graph

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gorgonia.org/tensor"
)

// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON mapping each tensor name to its dtype, shape and byte range
// in the data section (plus an optional "__metadata__" map of strings), then the data section:
// little-endian values, row-major, the ranges covering it exactly. PyTorch, NumPy and others
// read it with the safetensors package, so unroll's weights leave the project freely.

const (
	maxHeaderLen = 64 << 20 // a header larger than this is treated as corrupt
	metadataKey  = "__metadata__"
)

type stEntry struct {
	Dtype   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

var stSizes = map[string]int{"F32": 4, "F64": 8, "U8": 1}

// Checksums. unroll writes a CRC-32C (Castagnoli) of every tensor's bytes into the metadata,
// under "crc32c.<name>", and one of the header, under "crc32c": a CRC of the header's
// content in a canonical form (every entry's name, dtype, shape and byte range, and every
// metadata pair but this one, in name order). The file stays an ordinary safetensors file (the
// metadata holds strings only); DecodeSafetensors verifies the checksums when a file has them,
// so that a flipped bit anywhere in tensors, names, shapes, ranges or metadata is refused. A
// file written by other tools has none.
const (
	crcPrefix    = "crc32c."
	crcHeaderKey = "crc32c"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// headerCRC is the CRC-32C of the canonical form of a header: entries by name and metadata
// (without crcHeaderKey) by key.
func headerCRC(entries map[string]stEntry, meta map[string]string) uint32 {
	var b bytes.Buffer
	for _, n := range slices.Sorted(maps.Keys(entries)) {
		e := entries[n]
		fmt.Fprintf(&b, "t\x00%s\x00%s\x00%v\x00%d\x00%d\x00", n, e.Dtype, e.Shape, e.Offsets[0], e.Offsets[1])
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if k != crcHeaderKey {
			fmt.Fprintf(&b, "m\x00%s\x00%s\x00", k, meta[k])
		}
	}
	return crc32.Checksum(b.Bytes(), castagnoli)
}

func crcString(c uint32) string { return fmt.Sprintf("%08x", c) }

// EncodeSafetensors returns tensors (float32, float64 or uint8) and string metadata in the
// safetensors format, tensors in name order, with the checksums of every tensor and of the
// header in the metadata. The metadata keys "crc32c" and "crc32c.*" are reserved.
func EncodeSafetensors(tensors map[string]*tensor.Dense, meta map[string]string) ([]byte, error) {
	for k := range meta {
		if k == crcHeaderKey || strings.HasPrefix(k, crcPrefix) {
			return nil, fmt.Errorf("safetensors: metadata key %q is reserved for checksums", k)
		}
	}
	meta = maps.Clone(meta)
	if meta == nil {
		meta = map[string]string{}
	}
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		if n == metadataKey || n == "" {
			return nil, fmt.Errorf("safetensors: invalid tensor name %q", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	entries := map[string]stEntry{}
	var data bytes.Buffer
	for _, n := range names {
		t := tensors[n]
		if t == nil {
			return nil, fmt.Errorf("safetensors: tensor %q is nil", n)
		}
		begin := int64(data.Len())
		dt, ok := writeTensor(&data, t)
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %q has unsupported dtype %v", n, t.Dtype())
		}
		shape := []int(t.Shape().Clone())
		if shape == nil {
			shape = []int{}
		}
		e := stEntry{Dtype: dt, Shape: shape, Offsets: [2]int64{begin, int64(data.Len())}}
		header[n], entries[n] = e, e
		meta[crcPrefix+n] = crcString(crc32.Checksum(data.Bytes()[begin:], castagnoli))
	}
	meta[crcHeaderKey] = crcString(headerCRC(entries, meta))
	header[metadataKey] = meta
	h, err := json.Marshal(header)
	if err != nil {
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := make([]byte, 8, 8+len(h)+data.Len())
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	out = append(out, h...)
	return append(out, data.Bytes()...), nil
}

// writeTensor appends t's elements to data, little-endian, and returns the safetensors name of
// their dtype; ok is false, and nothing written, for a dtype other than float32, float64 and
// uint8.
func writeTensor(data *bytes.Buffer, t *tensor.Dense) (dt string, ok bool) {
	switch d := t.Data().(type) {
	case []float32:
		for _, v := range d {
			_ = binary.Write(data, binary.LittleEndian, math.Float32bits(v))
		}
		return "F32", true
	case []float64:
		for _, v := range d {
			_ = binary.Write(data, binary.LittleEndian, math.Float64bits(v))
		}
		return "F64", true
	case []uint8:
		data.Write(d)
		return "U8", true
	}
	return "", false
}

// DecodeSafetensors parses a safetensors file's bytes. Anything malformed (a short or
// oversized header, bad JSON, an unknown dtype, a shape that disagrees with its byte range,
// ranges that overlap, leave holes or run past the end) is an error, never a panic. A file with
// checksums (see EncodeSafetensors) must match every one of them; the metadata returned leaves
// them out.
func DecodeSafetensors(b []byte) (map[string]*tensor.Dense, map[string]string, error) {
	ts, meta, _, err := decodeSafetensors(b)
	return ts, meta, err
}

// decodeSafetensors is DecodeSafetensors, also reporting whether the file carried checksums
// (all of them verified).
func decodeSafetensors(b []byte) (map[string]*tensor.Dense, map[string]string, bool, error) {
	ts, meta, err := decodeRaw(b)
	if err != nil {
		return nil, nil, false, err
	}
	checked, err := verifyChecksums(b, meta)
	if err != nil {
		return nil, nil, false, err
	}
	for k := range meta {
		if k == crcHeaderKey || strings.HasPrefix(k, crcPrefix) {
			delete(meta, k)
		}
	}
	return ts, meta, checked, nil
}

// decodeRaw parses the file without looking at checksums.
func decodeRaw(b []byte) (map[string]*tensor.Dense, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("safetensors: file of %d bytes is too short for a header", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeaderLen || n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("safetensors: header length %d does not fit a file of %d bytes (truncated or corrupt)", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header is not valid JSON: %w", err)
	}
	data := b[8+n:]
	var meta map[string]string
	if m, ok := raw[metadataKey]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return nil, nil, fmt.Errorf("safetensors: metadata is not a map of strings: %w", err)
		}
		delete(raw, metadataKey)
	}
	type span struct {
		name       string
		begin, end int64
	}
	spans := make([]span, 0, len(raw))
	tensors := make(map[string]*tensor.Dense, len(raw))
	for name, r := range raw {
		t, begin, end, err := decodeEntry(name, r, data)
		if err != nil {
			return nil, nil, err
		}
		spans = append(spans, span{name, begin, end})
		tensors[name] = t
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	var at int64
	for _, s := range spans {
		if s.begin != at {
			return nil, nil, fmt.Errorf("safetensors: tensor %q starts at byte %d, expected %d (overlap or hole)", s.name, s.begin, at)
		}
		at = s.end
	}
	if at != int64(len(data)) {
		return nil, nil, fmt.Errorf("safetensors: %d data bytes but tensors cover %d (truncated or trailing garbage)", len(data), at)
	}
	return tensors, meta, nil
}

// decodeEntry checks the header entry r of tensor name against the data bytes and decodes the
// tensor; begin and end are its byte range in data.
func decodeEntry(name string, r json.RawMessage, data []byte) (t *tensor.Dense, begin, end int64, err error) {
	var e stEntry
	if err := json.Unmarshal(r, &e); err != nil {
		return nil, 0, 0, fmt.Errorf("safetensors: tensor %q: bad entry: %w", name, err)
	}
	size, ok := stSizes[e.Dtype]
	if !ok {
		return nil, 0, 0, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", name, e.Dtype)
	}
	count := int64(1)
	for _, d := range e.Shape {
		if d <= 0 || count > math.MaxInt32/int64(d) {
			return nil, 0, 0, fmt.Errorf("safetensors: tensor %q: unsupported shape %v (sizes must be positive)", name, e.Shape)
		}
		count *= int64(d)
	}
	begin, end = e.Offsets[0], e.Offsets[1]
	if begin < 0 || end < begin || end > int64(len(data)) {
		return nil, 0, 0, fmt.Errorf("safetensors: tensor %q: byte range [%d, %d) outside the %d data bytes (truncated or corrupt)", name, begin, end, len(data))
	}
	if end-begin != count*int64(size) {
		return nil, 0, 0, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes, range holds %d", name, e.Shape, e.Dtype, count*int64(size), end-begin)
	}
	return decodeTensor(e.Dtype, e.Shape, data[begin:end]), begin, end, nil
}

// verifyChecksums checks the header and tensor checksums of a file whose header and metadata
// decodeRaw has parsed; it reports false for a file without them.
func verifyChecksums(b []byte, meta map[string]string) (bool, error) {
	want, ok := meta[crcHeaderKey]
	if !ok {
		for k := range meta {
			if strings.HasPrefix(k, crcPrefix) {
				return false, fmt.Errorf("safetensors: %s is present but the header checksum is missing (corrupt)", k)
			}
		}
		return false, nil
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(b[8:8+n], &raw) // parsed by decodeRaw already
	delete(raw, metadataKey)
	entries := make(map[string]stEntry, len(raw))
	for name, r := range raw {
		var e stEntry
		_ = json.Unmarshal(r, &e)
		entries[name] = e
	}
	if got := crcString(headerCRC(entries, meta)); got != want {
		return false, fmt.Errorf("safetensors: header checksum %s does not match its content (%s): the file is corrupt", want, got)
	}
	data := b[8+n:]
	for name, e := range entries {
		c, ok := meta[crcPrefix+name]
		if !ok {
			return false, fmt.Errorf("safetensors: tensor %q has no checksum (corrupt)", name)
		}
		if got := crcString(crc32.Checksum(data[e.Offsets[0]:e.Offsets[1]], castagnoli)); got != c {
			return false, fmt.Errorf("safetensors: tensor %q does not match its checksum: the file is corrupt", name)
		}
	}
	for k := range meta {
		if name, ok := strings.CutPrefix(k, crcPrefix); ok {
			if _, ok := entries[name]; !ok {
				return false, fmt.Errorf("safetensors: checksum %s names no tensor (corrupt)", k)
			}
		}
	}
	return true, nil
}

func decodeTensor(dtype string, shape []int, b []byte) *tensor.Dense {
	if len(shape) == 0 {
		shape = []int{1}
	}
	var backing any
	switch dtype {
	case "F32":
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		backing = v
	case "F64":
		v := make([]float64, len(b)/8)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		backing = v
	default:
		backing = append([]uint8(nil), b...)
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(backing))
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and renames it over
// path, so a crash leaves either the old file or the new one, never a partial file.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = io.Copy(f, bytes.NewReader(data)); err != nil {
		f.Close()
		return err
	}
	if err = f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // make the rename durable where the platform allows
		d.Close()
	}
	return nil
}
