package data

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// Seed corpora live in testdata/fuzz/<name>; the f.Add calls below add a few more.

func FuzzReadIDX(f *testing.F) {
	good := idxBytes([]uint32{2, 2, 3}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add(good)
	f.Add(gzipBytes(f, good))
	f.Add(idxBytes([]uint32{0xffffffff, 0xffffffff}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := ParseIDX(bytes.NewReader(b), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		n := 1
		for _, d := range idx.Dims {
			if d < 1 {
				t.Fatalf("dimension %d", d)
			}
			n *= d
		}
		if n != len(idx.Data) || len(idx.Dims) == 0 {
			t.Fatalf("dims %v for %d bytes", idx.Dims, len(idx.Data))
		}
	})
}

func FuzzParseSeriesCSV(f *testing.F) {
	f.Add([]byte(gappy), "value", uint8(0))
	f.Add([]byte(gappy), "value", uint8(2))
	f.Add([]byte("t,v\n0,\n1,NaN\n2,10\n3,\n4,20\n"), "v", uint8(2))
	f.Add([]byte("\"v\"\n1e308\n-0\n"), "v", uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, column string, fill uint8) {
		fl := Fill(fill % 4) // includes one invalid fill
		s, err := ParseSeriesCSV(bytes.NewReader(b), "fuzz", column, fl)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if len(s.Values) == 0 || (s.Labels != nil && len(s.Labels) != len(s.Values)) {
			t.Fatalf("%d values, %d labels", len(s.Values), len(s.Labels))
		}
		if i := nonFinite(s.Values); i >= 0 {
			t.Fatalf("value %d is %g", i, s.Values[i])
		}
		if fl == FillNone && len(s.Missing) > 0 {
			t.Fatal("FillNone accepted missing values")
		}
		for _, i := range s.Filled {
			if i < 0 || i >= len(s.Values) || math.IsNaN(s.Values[i]) {
				t.Fatalf("filled index %d of %d", i, len(s.Values))
			}
		}
	})
}

func FuzzVocab(f *testing.F) {
	v, _ := NewCharVocab("Call me Ishmael. Some years ago—never mind how long")
	blob, _ := v.MarshalBinary()
	f.Add("Call me", "Ishmael—", blob)
	f.Add("abc", "x\xffy", []byte("unroll/data.Vocab/1\n\x02"))
	f.Add("\uFFFD", "\uFFFD", []byte{})
	f.Fuzz(func(t *testing.T, text, prompt string, blob []byte) {
		v, err := NewCharVocab(text)
		if err != nil {
			if text != "" && utf8.ValidString(text) {
				t.Fatalf("NewCharVocab(%q): %v", text, err)
			}
			return
		}
		if ids, err := v.EncodeStrict(prompt); err == nil {
			if got := v.Decode(ids); got != prompt {
				t.Fatalf("Decode(EncodeStrict(%q)) = %q", prompt, got)
			}
		}
		if ids := v.Encode(text); slices.Contains(ids, UnknownID) || v.Decode(ids) != text {
			t.Fatalf("the text does not round-trip through its own vocabulary")
		}
		var w Vocab
		if err := w.UnmarshalBinary(blob); err != nil {
			return
		}
		var w2 Vocab
		if err := w2.UnmarshalBinary(mustMarshal(t, &w)); err != nil {
			t.Fatalf("a re-marshalled vocabulary does not load: %v", err)
		}
		all := upTo(w.Size() + 1)
		if w2.Size() != w.Size() || w2.Decode(all) != w.Decode(all) {
			t.Fatal("a vocabulary changed through MarshalBinary and UnmarshalBinary")
		}
	})
}
