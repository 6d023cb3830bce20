package term

import (
	"bytes"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"R3":                             "R3",
		"Evil\x1b[2J\x1b]0;pwned\x07 CA": `Evil\x1b[2J\x1b]0;pwned\x07 CA`,
		"a\nb\r\tc":                      `a\x0ab\x0d\x09c`,
		"\u009b31m":                      `\u{009b}31m`,
		"abc\u202edef":                   `abc\u{202e}def`,
		"bad\xffutf8":                    `bad\xffutf8`,
		"Ünïcödé ✓":                      "Ünïcödé ✓",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestWriter(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	in := "Issuer:\tEvil\x1b[31mRed\x9b\n✓ ok\n"
	// Byte by byte: runes split across writes stay whole.
	for i := range len(in) {
		if _, err := w.Write([]byte{in[i]}); err != nil {
			t.Fatal(err)
		}
	}
	got := out.String()
	if strings.ContainsRune(got, 0x1b) || !strings.Contains(got, `Evil\x1b[31mRed`) || !strings.HasSuffix(got, "\n✓ ok\n") || !strings.HasPrefix(got, "Issuer:\t") {
		t.Errorf("Writer output %q", got)
	}
}
