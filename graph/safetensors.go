package graph

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

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

// EncodeSafetensors returns tensors (float32, float64 or uint8) and string metadata in the
// safetensors format, tensors in name order.
func EncodeSafetensors(tensors map[string]*tensor.Dense, meta map[string]string) ([]byte, error) {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		if n == metadataKey || n == "" {
			return nil, fmt.Errorf("safetensors: invalid tensor name %q", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	if len(meta) > 0 {
		header[metadataKey] = meta
	}
	var data bytes.Buffer
	for _, n := range names {
		t := tensors[n]
		if t == nil {
			return nil, fmt.Errorf("safetensors: tensor %q is nil", n)
		}
		begin := int64(data.Len())
		var dt string
		switch d := t.Data().(type) {
		case []float32:
			dt = "F32"
			for _, v := range d {
				_ = binary.Write(&data, binary.LittleEndian, math.Float32bits(v))
			}
		case []float64:
			dt = "F64"
			for _, v := range d {
				_ = binary.Write(&data, binary.LittleEndian, math.Float64bits(v))
			}
		case []uint8:
			dt = "U8"
			data.Write(d)
		default:
			return nil, fmt.Errorf("safetensors: tensor %q has unsupported dtype %v", n, t.Dtype())
		}
		shape := []int(t.Shape().Clone())
		if shape == nil {
			shape = []int{}
		}
		header[n] = stEntry{Dtype: dt, Shape: shape, Offsets: [2]int64{begin, int64(data.Len())}}
	}
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

// DecodeSafetensors parses a safetensors file's bytes. Anything malformed (a short or
// oversized header, bad JSON, an unknown dtype, a shape that disagrees with its byte range,
// ranges that overlap, leave holes or run past the end) is an error, never a panic.
func DecodeSafetensors(b []byte) (map[string]*tensor.Dense, map[string]string, error) {
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
		var e stEntry
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: bad entry: %w", name, err)
		}
		size, ok := stSizes[e.Dtype]
		if !ok {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", name, e.Dtype)
		}
		count := int64(1)
		for _, d := range e.Shape {
			if d <= 0 || count > math.MaxInt32/int64(d) {
				return nil, nil, fmt.Errorf("safetensors: tensor %q: unsupported shape %v (sizes must be positive)", name, e.Shape)
			}
			count *= int64(d)
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < 0 || end < begin || end > int64(len(data)) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: byte range [%d, %d) outside the %d data bytes (truncated or corrupt)", name, begin, end, len(data))
		}
		if end-begin != count*int64(size) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes, range holds %d", name, e.Shape, e.Dtype, count*int64(size), end-begin)
		}
		spans = append(spans, span{name, begin, end})
		tensors[name] = decodeTensor(e.Dtype, e.Shape, data[begin:end])
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
