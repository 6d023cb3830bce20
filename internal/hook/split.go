package hook

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNeedsShell is matched (errors.Is) by a *SplitError for a hook string
// that only a shell could run.
var ErrNeedsShell = errors.New("hooks run without a shell: use a script")

// shellOnly are the characters that, unquoted, would make a shell do
// something (separate, redirect, substitute, group). Newline separates
// commands too.
const shellOnly = ";&|<>$`()\n"

// SplitError reports a hook string that Split refuses.
type SplitError struct {
	Offset int    // byte offset in the hook string
	Char   byte   // the offending character, 0 when none
	Reason string // what is wrong, when not a shell-only character
}

func (e *SplitError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("%v: unquoted %q at offset %d", ErrNeedsShell, e.Char, e.Offset)
	}
	return fmt.Sprintf("split hook: %s at offset %d", e.Reason, e.Offset)
}

// Is makes errors.Is(err, ErrNeedsShell) true for shell-only characters.
func (e *SplitError) Is(target error) bool { return target == ErrNeedsShell && e.Reason == "" }

// Split turns a hook string into argv the way a POSIX shell splits words,
// but with no expansion of any kind (no variables, globs, tilde, braces or
// comments: `*`, `~`, `{a,b}`, `#` are literal):
//
//   - words are separated by spaces and tabs;
//   - '...' keeps everything up to the next ' literally;
//   - "..." keeps everything literally except that \" \\ \$ \` stand for the
//     second character and backslash-newline is removed;
//   - outside quotes a backslash makes the next character literal, and
//     backslash-newline is removed.
//
// Any of ; & | < > $ ` ( ) or a newline outside quotes is a *SplitError
// matching ErrNeedsShell: the hook needs a script. Inside quotes they are
// ordinary characters and reach argv unchanged ("$HOME" stays $HOME). Other
// control characters outside quotes, NUL anywhere, unterminated quotes, a
// trailing backslash, an empty string or an empty program name are
// *SplitError too.
func Split(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
	)
	if i := strings.IndexByte(s, 0); i >= 0 {
		return nil, &SplitError{Offset: i, Reason: "NUL byte"}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
			i++
		case c == '\\':
			if i+1 == len(s) {
				return nil, &SplitError{Offset: i, Reason: "trailing backslash"}
			}
			if s[i+1] != '\n' {
				cur.WriteByte(s[i+1])
				inArg = true
			}
			i += 2
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, &SplitError{Offset: i, Reason: "unterminated single quote"}
			}
			cur.WriteString(s[i+1 : i+1+j])
			inArg = true
			i += j + 2
		case c == '"':
			start := i
			inArg = true
			for i++; ; {
				if i == len(s) {
					return nil, &SplitError{Offset: start, Reason: "unterminated double quote"}
				}
				if s[i] == '"' {
					i++
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`\n", s[i+1]) >= 0 {
					if s[i+1] != '\n' {
						cur.WriteByte(s[i+1])
					}
					i += 2
					continue
				}
				cur.WriteByte(s[i])
				i++
			}
		case strings.IndexByte(shellOnly, c) >= 0:
			return nil, &SplitError{Offset: i, Char: c}
		case c < 0x20 || c == 0x7f:
			return nil, &SplitError{Offset: i, Char: c, Reason: fmt.Sprintf("control character %q", c)}
		default:
			cur.WriteByte(c)
			inArg = true
			i++
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, &SplitError{Reason: "empty hook"}
	}
	if args[0] == "" {
		return nil, &SplitError{Reason: "empty program name"}
	}
	return args, nil
}
