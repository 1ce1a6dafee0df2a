package data

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseText(t *testing.T) {
	s, err := ParseText(strings.NewReader("héllo\n"), "t.txt")
	if err != nil || s != "héllo\n" {
		t.Errorf("ParseText = %q, %v", s, err)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", "t.txt: empty text"},
		{"invalid", "ab\ncd\n\xffe", "t.txt: invalid UTF-8 at byte 6 (line 3)"},
		{"truncated rune", "ok é"[:4], "t.txt: invalid UTF-8 at byte 3 (line 1)"},
	} {
		if _, err := ParseText(strings.NewReader(tc.text), "t.txt"); err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	boom := errors.New("boom")
	if _, err := ParseText(iotest.ErrReader(boom), "t.txt"); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
	dir := t.TempDir()
	path := writeFile(t, dir, "bad.txt", []byte("\x80"))
	if _, err := ReadText(path); err == nil || !strings.Contains(err.Error(), path+": invalid UTF-8 at byte 0") {
		t.Errorf("ReadText: %v", err)
	}
	if _, err := ReadText(filepath.Join(dir, "absent")); err == nil {
		t.Error("ReadText of a missing file: no error")
	}
}

func TestASCIIQuotes(t *testing.T) {
	got := ASCIIQuotes("“Don’t—” ‘she’ said")
	if want := `"Don't--" 'she' said`; got != want {
		t.Errorf("ASCIIQuotes = %q, want %q", got, want)
	}
}

func TestVocab(t *testing.T) {
	v, err := NewCharVocab("abracadabra!")
	if err != nil {
		t.Fatal(err)
	}
	// a:5, b:2, r:2, c:1, d:1, !:1; ties by code point ('!' < 'c' < 'd', 'b' < 'r').
	want := []rune{UnknownRune, 'a', 'b', 'r', '!', 'c', 'd'}
	if v.Size() != len(want) {
		t.Fatalf("Size = %d, want %d", v.Size(), len(want))
	}
	for id, r := range want {
		if v.Symbol(id) != r {
			t.Errorf("Symbol(%d) = %q, want %q", id, v.Symbol(id), r)
		}
		if id > 0 && v.ID(r) != id {
			t.Errorf("ID(%q) = %d, want %d", r, v.ID(r), id)
		}
	}
	if v.ID('z') != UnknownID || v.Symbol(-1) != UnknownRune || v.Symbol(7) != UnknownRune {
		t.Error("unknown characters or ids are not mapped to the unknown symbol")
	}
	if got := v.Encode("bark\xff"); !slices.Equal(got, []int{2, 1, 3, 0, 0}) {
		t.Errorf("Encode = %v", got)
	}
	// Decode writes U+FFFD for the unknown id and for ids outside the vocabulary.
	if got := v.Decode([]int{2, 1, 3, 0, 99, -1}); got != "bar\uFFFD\uFFFD\uFFFD" {
		t.Errorf("Decode = %q", got)
	}
	ids, err := v.EncodeStrict("cab!")
	if err != nil || v.Decode(ids) != "cab!" {
		t.Errorf("EncodeStrict = %v, %v", ids, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"abé", `vocab: character 'é' (U+00E9) at position 2 is not in the vocabulary`},
		{"ab\xffa", "vocab: invalid UTF-8 at byte 2"},
		{"\uFFFD", `vocab: character '�' (U+FFFD) at position 0 is not in the vocabulary`},
	} {
		if _, err := v.EncodeStrict(tc.in); err == nil || err.Error() != tc.want {
			t.Errorf("EncodeStrict(%q): error %v, want %q", tc.in, err, tc.want)
		}
	}

	// A literal U+FFFD in the text is a character like any other; an invalid byte is not it.
	w, _ := NewCharVocab("x\uFFFD")
	if got := w.Encode("\uFFFD\xff"); !slices.Equal(got, []int{w.ID('\uFFFD'), UnknownID}) {
		t.Errorf("Encode of U+FFFD and an invalid byte = %v", got)
	}

	rare, err := NewCharVocab("abracadabra!", MinFreq(2))
	if err != nil || rare.Size() != 4 || rare.ID('c') != UnknownID {
		t.Errorf("MinFreq(2): size %d, %v", rare.Size(), err)
	}
	var zero Vocab
	if zero.Size() != 1 || zero.ID('a') != UnknownID || zero.Decode([]int{0, 1}) != "\uFFFD\uFFFD" {
		t.Error("the zero Vocab is not the unknown symbol alone")
	}
}

func TestVocabErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		opts []VocabOption
		want string
	}{
		{"", nil, "vocab: empty text"},
		{"ab\xc3", nil, "vocab: invalid UTF-8 at byte 2"},
		{"abc", []VocabOption{MinFreq(2)}, "vocab: no character occurs at least 2 times"},
	} {
		if _, err := NewCharVocab(tc.text, tc.opts...); err == nil || err.Error() != tc.want {
			t.Errorf("NewCharVocab(%q): error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestVocabMarshal(t *testing.T) {
	v, _ := NewCharVocab("the whale, the whale! ’tis Moby Dick")
	blob := mustMarshal(t, v)
	var w Vocab
	if err := w.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	s := "Moby the whale?"
	if w.Size() != v.Size() || !slices.Equal(w.Encode(s), v.Encode(s)) || w.Decode(v.Encode(s)) != v.Decode(v.Encode(s)) {
		t.Error("round trip changed the vocabulary")
	}

	dup := newEncoder(vocabTag)
	dup.ints([]int{'a', 'b', 'a'})
	bad := newEncoder(vocabTag)
	bad.ints([]int{'a', 0xD800})
	flipped := slices.Clone(blob)
	flipped[len(flipped)-5] ^= 1
	for name, tc := range map[string]struct {
		blob []byte
		want string
	}{
		"empty":     {nil, "vocab: corrupt state"},
		"truncated": {blob[:len(blob)-1], "checksum mismatch"},
		"flipped":   {flipped, "checksum mismatch"},
		"duplicate": {dup.bytes(), "id 3 holds an invalid or repeated character 97"},
		"surrogate": {bad.bytes(), "id 2 holds an invalid or repeated character 55296"},
	} {
		w := *v
		if err := w.UnmarshalBinary(tc.blob); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, tc.want)
		}
		if w.Size() != v.Size() {
			t.Errorf("%s: a failed UnmarshalBinary changed the vocabulary", name)
		}
	}
}

func TestSplitIDs(t *testing.T) {
	train, valid, err := SplitIDs(upTo(10), 0.75)
	if err != nil || !slices.Equal(train, upTo(7)) || !slices.Equal(valid, []int{7, 8, 9}) {
		t.Errorf("SplitIDs = %v, %v, %v", train, valid, err)
	}
	_ = append(train, -1) // writes past the end of train if it shares memory with valid
	if valid[0] != 7 {
		t.Error("appending to the training part overwrote the validation part")
	}
	for _, tc := range []struct {
		n    int
		frac float64
		want string
	}{
		{10, 0, "fraction 0 is not strictly between 0 and 1"},
		{10, 1, "fraction 1 is not"},
		{10, -0.5, "fraction -0.5 is not"},
		{3, 0.2, "fraction 0.2 of 3 values leaves a part empty"},
		{0, 0.5, "of 0 values leaves a part empty"},
	} {
		if _, _, err := SplitIDs(upTo(tc.n), tc.frac); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SplitIDs(%d, %g): error %v, want %q", tc.n, tc.frac, err, tc.want)
		}
	}
}

// A byte-order mark at the start of a text is not a character of it.
func TestParseTextDropsByteOrderMark(t *testing.T) {
	s, err := ParseText(strings.NewReader("\uFEFFcall me"), "bom.txt")
	if err != nil || s != "call me" {
		t.Fatalf("got %q, %v", s, err)
	}
	if _, err := ParseText(strings.NewReader("\uFEFF"), "only-bom.txt"); err == nil || !strings.Contains(err.Error(), "empty text") {
		t.Fatalf("a text of a byte-order mark only: %v", err)
	}
	// Nor a symbol of the vocabulary built from the text.
	v, err := NewCharVocab(s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.EncodeStrict("\uFEFF"); err == nil || v.Size() != len("cal me")+1 {
		t.Errorf("the vocabulary of a text read with a byte-order mark has %d symbols and encodes U+FEFF (%v)", v.Size(), err)
	}
}
