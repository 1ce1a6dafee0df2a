package data

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// ReadText reads a UTF-8 text file. Invalid UTF-8 and an empty file are errors.
func ReadText(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return ParseText(f, path)
}

// ParseText reads UTF-8 text from r; name is used in error messages. A byte-order mark at the
// start (some editors write one) is dropped, not read as a character. Invalid UTF-8 is an
// error naming the byte offset and line of the first bad byte; empty text is an error.
func ParseText(r io.Reader, name string) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	if len(b) == 0 {
		return "", fmt.Errorf("%s: empty text", name)
	}
	if off := invalidUTF8(b); off >= 0 {
		line := 1 + bytes.Count(b[:off], []byte("\n"))
		return "", fmt.Errorf("%s: invalid UTF-8 at byte %d (line %d)", name, off, line)
	}
	return string(b), nil
}

// invalidUTF8 returns the offset of the first byte that is not valid UTF-8, or -1.
func invalidUTF8(b []byte) int {
	for off := 0; off < len(b); {
		r, n := utf8.DecodeRune(b[off:])
		if r == utf8.RuneError && n == 1 {
			return off
		}
		off += n
	}
	return -1
}

var asciiQuotes = strings.NewReplacer("’", "'", "‘", "'", "“", `"`, "”", `"`, "—", "--")

// ASCIIQuotes replaces typographic quotes and dashes by ASCII: ’ and ‘ by ', “ and ” by ",
// and the em dash — by --. It brings Moby Dick down to 80 distinct characters, all ASCII.
func ASCIIQuotes(s string) string { return asciiQuotes.Replace(s) }
