package graph_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"gorgonia.org/tensor"

	"github.com/unroll-ml/unroll/graph"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	in := map[string]*tensor.Dense{
		"a.weight": graph.NewTensor(tensor.Float32, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6.5}),
		"b":        graph.NewTensor(tensor.Float64, []int{1}, []float64{-0.25}),
		"c":        tensor.New(tensor.WithShape(3), tensor.WithBacking([]uint8{7, 8, 9})),
	}
	enc, err := graph.EncodeSafetensors(in, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	out, meta, err := graph.DecodeSafetensors(enc)
	if err != nil {
		t.Fatal(err)
	}
	if meta["k"] != "v" || len(out) != 3 {
		t.Fatalf("meta %v, %d tensors", meta, len(out))
	}
	for name, want := range in {
		got := out[name]
		if !got.Shape().Eq(want.Shape()) || got.Dtype() != want.Dtype() {
			t.Fatalf("%s: %v %v, want %v %v", name, got.Shape(), got.Dtype(), want.Shape(), want.Dtype())
		}
	}
	if graph.Float64s(out["a.weight"])[5] != 6.5 || out["c"].Data().([]uint8)[2] != 9 {
		t.Error("values changed")
	}
	// Deterministic bytes: the same tensors encode the same way.
	again, _ := graph.EncodeSafetensors(in, map[string]string{"k": "v"})
	if !bytes.Equal(enc, again) {
		t.Error("encoding is not deterministic")
	}
}

func TestCheckpointBlobsAndTensors(t *testing.T) {
	ps := graph.NewParams()
	if _, err := ps.Add("w", []int{2}, graph.Constant(3)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.safetensors")
	extra := &graph.Extra{
		Tensors: map[string]*tensor.Dense{"h0": graph.NewTensor(tensor.Float32, []int{1, 2}, []float64{0.5, -1})},
		Blobs:   map[string][]byte{"iter": {1, 2, 3}, "empty": {}},
		Meta:    map[string]string{"hidden": "256"},
	}
	if err := graph.SaveCheckpoint(path, ps, nil, extra); err != nil {
		t.Fatal(err)
	}
	c, err := graph.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Extra.Meta["hidden"] != "256" || !bytes.Equal(c.Extra.Blobs["iter"], []byte{1, 2, 3}) || len(c.Extra.Blobs["empty"]) != 0 {
		t.Fatalf("extra %+v", c.Extra)
	}
	if got := graph.Float64s(c.Extra.Tensors["h0"]); got[1] != -1 {
		t.Fatalf("h0 %v", got)
	}
	if got := graph.Float64s(c.Tensor("w")); got[0] != 3 {
		t.Fatalf("w %v", got)
	}
}

// FuzzDecodeSafetensors feeds arbitrary bytes to the checkpoint decoder: it must return an
// error or tensors, never panic or allocate without bound.
func FuzzDecodeSafetensors(f *testing.F) {
	good, _ := graph.EncodeSafetensors(map[string]*tensor.Dense{
		"w": graph.NewTensor(tensor.Float32, []int{2, 2}, []float64{1, 2, 3, 4}),
		"b": tensor.New(tensor.WithShape(2), tensor.WithBacking([]uint8{1, 2})),
	}, map[string]string{"format": "x"})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{})
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}    "))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, _, err := graph.DecodeSafetensors(b)
		if err != nil {
			return
		}
		for name, v := range ts {
			if v.Shape().TotalSize()*int(v.Dtype().Size()) > len(b) {
				t.Fatalf("%s decodes to more bytes than the input holds", name)
			}
		}
	})
}
