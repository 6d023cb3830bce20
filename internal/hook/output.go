package hook

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

const maxLine = 4096 // longer lines are cut into pieces of this size

// lineWriter copies hook output to w a line at a time, each line prefixed,
// and stops copying after limit bytes (the hook keeps running; the rest is
// drained and counted). Writes never fail, so a broken log cannot fail a
// hook. Each line is one Write call on w.
type lineWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	buf     []byte
	left    int
	dropped int
}

func newLineWriter(w io.Writer, prefix string, limit int) *lineWriter {
	return &lineWriter{w: w, prefix: prefix, left: limit}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	if l.left <= 0 {
		l.dropped += n
		return n, nil
	}
	if len(p) > l.left {
		l.dropped += len(p) - l.left
		p = p[:l.left]
	}
	l.left -= len(p)
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 && len(l.buf) < maxLine {
			break
		}
		if i < 0 || i >= maxLine {
			i = maxLine - 1
		}
		l.emit(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
	return n, nil
}

func (l *lineWriter) emit(line []byte) {
	out := make([]byte, 0, len(l.prefix)+len(line)+1)
	out = append(append(out, l.prefix...), line...)
	if out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	_, _ = l.w.Write(out)
}

// flush writes a final partial line and notes dropped output.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
	if l.dropped > 0 {
		l.emit(fmt.Appendf(nil, "[%d more bytes of output not shown]", l.dropped))
		l.dropped = 0
	}
}
