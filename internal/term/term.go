// Package term is the one sanitiser for text that a server, a certificate
// or storage controls (issuer names, account contacts, problem details,
// CAA identities, names from etcd) on its way to a terminal: control
// characters (ESC and every C0/C1 code, so no CSI/OSC sequence gets
// through), DEL, bidirectional overrides and invalid UTF-8 are shown
// escaped (\x1b, \u{202e}) instead of acting on the terminal. JSON output
// does not go through it: the encoder escapes those itself and keeps the
// value exact.
package term

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// unsafe reports runes a terminal would act on.
func unsafe(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) ||
		r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// appendSafe appends s to b with unsafe runes escaped; keep lists control
// characters passed through (for whole documents: newline and tab).
func appendSafe(b *strings.Builder, s string, keep string) {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(b, `\x%02x`, s[i])
		case strings.ContainsRune(keep, r):
			b.WriteRune(r)
		case r < 0x80 && unsafe(r):
			fmt.Fprintf(b, `\x%02x`, r)
		case unsafe(r):
			fmt.Fprintf(b, `\u{%04x}`, r)
		default:
			b.WriteRune(r)
		}
	}
}

// Text returns s safe for one line of a terminal: every control character,
// newlines included, is escaped.
func Text(s string) string {
	var b strings.Builder
	appendSafe(&b, s, "")
	return b.String()
}

// Writer passes what is written to w with unsafe runes escaped, except
// newline and tab: for a command's human-readable standard output, so that
// no field printed into it can carry an escape sequence. A rune split
// across two writes is kept until it is complete.
type Writer struct {
	w    io.Writer
	tail []byte
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write implements io.Writer; it reports len(p) on success.
func (t *Writer) Write(p []byte) (int, error) {
	data := append(t.tail, p...)
	t.tail = nil
	// Keep an incomplete rune at the end for the next write.
	if n := len(data); n > 0 {
		for i := max(0, n-utf8.UTFMax+1); i < n; i++ {
			if utf8.RuneStart(data[i]) && !utf8.FullRune(data[i:]) {
				t.tail = append([]byte(nil), data[i:]...)
				data = data[:i]
				break
			}
		}
	}
	var b strings.Builder
	appendSafe(&b, string(data), "\n\t")
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}
