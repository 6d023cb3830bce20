package hook

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"one word", "reload", []string{"reload"}},
		{"spaces and tabs", " \t/usr/sbin/nginx  -s\treload ", []string{"/usr/sbin/nginx", "-s", "reload"}},
		{"single quotes", `notify 'a b' 'it''s'`, []string{"notify", "a b", "its"}},
		{"single quotes keep backslash", `x 'a\nb\'`, []string{"x", `a\nb\`}},
		{"double quotes", `x "a b" "c\"d" "e\\f" "g\h"`, []string{"x", "a b", `c"d`, `e\f`, `g\h`}},
		{"adjacent quoting joins", `x a'b c'"d e"f`, []string{"x", "ab cd ef"}},
		{"empty quoted argument", `x '' ""`, []string{"x", "", ""}},
		{"backslash escapes", `x a\ b \'q\' \"d\" \\`, []string{"x", "a b", "'q'", `"d"`, `\`}},
		{"backslash newline continues", "x a\\\nb", []string{"x", "ab"}},
		{"double-quoted backslash newline", "x \"a\\\nb\"", []string{"x", "ab"}},
		{"newline inside quotes kept", "x 'a\nb'", []string{"x", "a\nb"}},
		{"no expansion: glob tilde brace hash", `ls * ~/x {a,b} #c`, []string{"ls", "*", "~/x", "{a,b}", "#c"}},
		{"utf-8", `x 'é' \ü`, []string{"x", "é", "ü"}},
		// Shell-only characters inside quotes or escaped are ordinary.
		{"quoted $ single", `x '$HOME'`, []string{"x", "$HOME"}},
		{"quoted $ double", `x "$HOME"`, []string{"x", "$HOME"}},
		{"escaped $ in double", `x "\$HOME"`, []string{"x", "$HOME"}},
		{"escaped specials", `x \; \& \| \< \> \$ \` + "`" + ` \( \)`, []string{"x", ";", "&", "|", "<", ">", "$", "`", "(", ")"}},
		{"quoted specials", `x '; & | < > $ ` + "`" + ` ( )' "a;b&c|d<e>f$g` + "\\`" + `h(i)"`, []string{"x", "; & | < > $ ` ( )", "a;b&c|d<e>f$g`h(i)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Split(tc.in)
			if err != nil {
				t.Fatalf("Split(%q): %v", tc.in, err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Split(%q) mismatch (-want +got):\n%s", tc.in, d)
			}
		})
	}
}

func TestSplitNeedsShell(t *testing.T) {
	for _, c := range ";&|<>$`()\n" {
		for _, in := range []string{
			"x a" + string(c) + "b",
			"x " + string(c),
			string(c) + "x",
			`x "ok" a` + string(c),
		} {
			got, err := Split(in)
			if !errors.Is(err, ErrNeedsShell) {
				t.Errorf("Split(%q) = %q, %v; want ErrNeedsShell", in, got, err)
				continue
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "hooks run without a shell: use a script") || !strings.Contains(msg, fmt.Sprintf("%q", byte(c))) {
				t.Errorf("Split(%q) error %q; want the shell message naming %q", in, msg, c)
			}
		}
	}
	// Typical shell-isms.
	for _, in := range []string{
		"systemctl reload nginx && echo done",
		"cp $RENEWED_LINEAGE/fullchain.pem /etc/x",
		"echo `id`",
		"cat x > y",
		"a | b",
		"(cd /x; make)",
		"a\nb",
	} {
		if _, err := Split(in); !errors.Is(err, ErrNeedsShell) {
			t.Errorf("Split(%q) error = %v; want ErrNeedsShell", in, err)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"   \t ",
		"x 'open",
		`x "open`,
		`x "a\"`,
		`x \`,
		"'' a",
		"x \x00",
		"x 'a\x00'",
		"x \r",
		"x \x1b[31m",
	} {
		got, err := Split(in)
		var se *SplitError
		if !errors.As(err, &se) {
			t.Errorf("Split(%q) = %q, %v; want *SplitError", in, got, err)
			continue
		}
		if errors.Is(err, ErrNeedsShell) {
			t.Errorf("Split(%q) error %v matches ErrNeedsShell; want a syntax error", in, err)
		}
	}
}
