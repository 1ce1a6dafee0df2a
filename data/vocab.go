package data

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// UnknownID is the id of the unknown symbol (d2l's <unk>) in every Vocab.
const UnknownID = 0

// UnknownRune is how Decode and Symbol show the unknown id and ids outside the vocabulary:
// U+FFFD, the Unicode replacement character.
const UnknownRune = utf8.RuneError

// Vocab maps characters to integer ids: id 0 is the unknown symbol, then come the characters
// of the text it was built from, by descending frequency and, at equal frequency, by code
// point, so the same text always gives the same vocabulary. The zero Vocab holds only the
// unknown symbol; UnmarshalBinary fills it from a checkpoint.
type Vocab struct {
	runes []rune       // runes[id-1] is the character of id
	ids   map[rune]int // inverse of runes
}

// VocabOption configures NewCharVocab.
type VocabOption func(*vocabConfig)

type vocabConfig struct{ minFreq int }

// MinFreq leaves out characters seen fewer than n times (they encode to UnknownID), as d2l's
// min_freq; the default 1 keeps every character.
func MinFreq(n int) VocabOption { return func(c *vocabConfig) { c.minFreq = n } }

// NewCharVocab builds the character vocabulary of text, which must be non-empty valid UTF-8.
func NewCharVocab(text string, opts ...VocabOption) (*Vocab, error) {
	cfg := vocabConfig{minFreq: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if text == "" {
		return nil, errors.New("vocab: empty text")
	}
	if off := invalidUTF8([]byte(text)); off >= 0 {
		return nil, fmt.Errorf("vocab: invalid UTF-8 at byte %d", off)
	}
	counts := map[rune]int{}
	for _, r := range text {
		counts[r]++
	}
	var runes []rune
	for r, n := range counts {
		if n >= cfg.minFreq {
			runes = append(runes, r)
		}
	}
	if len(runes) == 0 {
		return nil, fmt.Errorf("vocab: no character occurs at least %d times", cfg.minFreq)
	}
	slices.SortFunc(runes, func(a, b rune) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	return newVocab(runes), nil
}

func newVocab(runes []rune) *Vocab {
	v := &Vocab{runes: runes, ids: make(map[rune]int, len(runes))}
	for i, r := range runes {
		v.ids[r] = i + 1
	}
	return v
}

// Size returns the number of ids, the unknown symbol included.
func (v *Vocab) Size() int { return len(v.runes) + 1 }

// ID returns the id of r, or UnknownID if r is not in the vocabulary.
func (v *Vocab) ID(r rune) int {
	if id, ok := v.ids[r]; ok {
		return id
	}
	return UnknownID
}

// Symbol returns the character of id, or UnknownRune for UnknownID and ids outside [0, Size()).
func (v *Vocab) Symbol(id int) rune {
	if id < 1 || id > len(v.runes) {
		return UnknownRune
	}
	return v.runes[id-1]
}

// Encode returns the ids of the characters of s; characters outside the vocabulary, and
// bytes that are not valid UTF-8, map to UnknownID.
func (v *Vocab) Encode(s string) []int {
	ids := make([]int, 0, len(s))
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], string(utf8.RuneError)) {
			ids = append(ids, UnknownID) // an invalid byte, not a literal U+FFFD
			continue
		}
		ids = append(ids, v.ID(r))
	}
	return ids
}

// EncodeStrict is Encode for text that must lie inside the vocabulary, such as a generation
// prompt: a character outside it, or invalid UTF-8, is an error naming its position.
func (v *Vocab) EncodeStrict(s string) ([]int, error) {
	ids := make([]int, 0, len(s))
	pos := 0 // in characters
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], string(utf8.RuneError)) {
			return nil, fmt.Errorf("vocab: invalid UTF-8 at byte %d", i)
		}
		id, ok := v.ids[r]
		if !ok {
			return nil, fmt.Errorf("vocab: character %q (%U) at position %d is not in the vocabulary", r, r, pos)
		}
		ids = append(ids, id)
		pos++
	}
	return ids, nil
}

// Decode returns the characters of ids, writing UnknownRune for UnknownID and for ids outside
// [0, Size()).
func (v *Vocab) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteRune(v.Symbol(id))
	}
	return b.String()
}

const vocabTag = "unroll/data.Vocab/1\n"

// MarshalBinary encodes the vocabulary for a checkpoint.
func (v *Vocab) MarshalBinary() ([]byte, error) {
	e := newEncoder(vocabTag)
	ints := make([]int, len(v.runes))
	for i, r := range v.runes {
		ints[i] = int(r)
	}
	e.ints(ints)
	return e.bytes(), nil
}

// UnmarshalBinary restores a vocabulary written by MarshalBinary. A damaged blob, an invalid
// character or a repeated one is an error and leaves v unchanged.
func (v *Vocab) UnmarshalBinary(blob []byte) error {
	d := newDecoder(blob, vocabTag)
	ints := d.ints()
	if err := d.finish(); err != nil {
		return fmt.Errorf("vocab: %w", err)
	}
	runes := make([]rune, len(ints))
	seen := make(map[rune]bool, len(ints))
	for i, n := range ints {
		r := rune(n)
		if int(r) != n || !utf8.ValidRune(r) || seen[r] {
			return fmt.Errorf("vocab: %w: id %d holds an invalid or repeated character %d", errCorrupt, i+1, n)
		}
		seen[r], runes[i] = true, r
	}
	*v = *newVocab(runes)
	return nil
}

// SplitIDs splits ids into a training part, the first floor(trainFrac*len(ids)) ids, and a
// validation part, the rest. Both must be non-empty. The parts share memory with ids but
// appending to one cannot overwrite the other.
func SplitIDs(ids []int, trainFrac float64) (train, valid []int, err error) {
	return split(ids, trainFrac)
}

// split cuts xs at floor(frac*len(xs)).
func split[T any](xs []T, frac float64) (a, b []T, err error) {
	if !(frac > 0 && frac < 1) {
		return nil, nil, fmt.Errorf("split: fraction %g is not strictly between 0 and 1", frac)
	}
	n := int(frac * float64(len(xs)))
	if n < 1 || n >= len(xs) {
		return nil, nil, fmt.Errorf("split: fraction %g of %d values leaves a part empty", frac, len(xs))
	}
	return xs[:n:n], xs[n:], nil
}
