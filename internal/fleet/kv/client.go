package kv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// HelperName is the helper's file name; it is installed beside acmectl.
const HelperName = "acmectl-etcd"

// HelperPath is where acmectl looks for its helper: beside its own
// executable (never through $PATH).
func HelperPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locate %s: %w", HelperName, err)
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	name := HelperName
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(filepath.Dir(exe), name), nil
}

// Client is a Backend served by an acmectl-etcd process. Start one with
// Start; it is safe for concurrent use.
type Client struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	exit  chan struct{} // closed when the helper has exited

	wmu sync.Mutex

	mu     sync.Mutex
	next   uint64
	calls  map[uint64]sink
	locks  map[uint64]*procMutex
	dead   error // set once the helper is gone
	closed bool
}

// sink receives the responses to one request.
type sink interface {
	// put delivers one response; it must not block.
	put(r *response)
	// fail ends the request with err (the helper is gone).
	fail(err error)
}

// Start runs the helper at path (see HelperPath), sends it cfg and waits
// for it to answer. The helper's stderr goes to stderr (nil: discarded).
func Start(ctx context.Context, path string, cfg DialConfig, stderr io.Writer) (*Client, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("etcd storage needs the %s helper installed beside acmectl: %w", HelperName, err)
	}
	cmd := exec.Command(path)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", HelperName, err)
	}
	c := &Client{cmd: cmd, stdin: in, exit: make(chan struct{}), calls: map[uint64]sink{}, locks: map[uint64]*procMutex{}}
	go c.read(bufio.NewReaderSize(out, 64<<10))
	r, err := c.call(ctx, &request{Method: mHello, Version: ProtocolVersion, Dial: &cfg})
	if err == nil && r.Version != ProtocolVersion {
		err = fmt.Errorf("%s speaks protocol %d, acmectl %d: install both from the same release", HelperName, r.Version, ProtocolVersion)
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// read dispatches the helper's responses until its stdout ends.
func (c *Client) read(r *bufio.Reader) {
	var err error
	for {
		resp := new(response)
		if err = readFrame(r, resp); err != nil {
			break
		}
		c.mu.Lock()
		if resp.ID == 0 {
			m := c.locks[resp.Lost]
			delete(c.locks, resp.Lost)
			c.mu.Unlock()
			if m != nil {
				m.end()
			}
			continue
		}
		s := c.calls[resp.ID]
		if s != nil {
			if _, stream := s.(*watchSink); !stream || resp.End {
				delete(c.calls, resp.ID)
			}
		}
		c.mu.Unlock()
		if s != nil {
			s.put(resp)
		}
	}
	_ = c.cmd.Wait()
	close(c.exit)
	c.mu.Lock()
	if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
		err = fmt.Errorf("%s exited", HelperName)
	}
	if c.closed {
		err = errors.New("etcd storage closed")
	}
	c.dead = &Error{Code: CodeProtocol, Msg: fmt.Sprintf("etcd helper: %v", err)}
	calls, locks := c.calls, c.locks
	c.calls, c.locks = map[uint64]sink{}, map[uint64]*procMutex{}
	dead := c.dead
	c.mu.Unlock()
	for _, s := range calls {
		s.fail(dead)
	}
	for _, m := range locks {
		m.end()
	}
}

// send registers s for a new request ID and writes req.
func (c *Client) send(ctx context.Context, req *request, s sink) (uint64, error) {
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		return 0, c.dead
	}
	c.next++
	req.ID = c.next
	c.calls[req.ID] = s
	c.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		req.Timeout = max(time.Until(dl), time.Millisecond)
	}
	if err := c.write(req); err != nil {
		c.mu.Lock()
		delete(c.calls, req.ID)
		c.mu.Unlock()
		return 0, &Error{Code: CodeProtocol, Msg: fmt.Sprintf("etcd helper: %v", err)}
	}
	return req.ID, nil
}

func (c *Client) write(req *request) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return writeFrame(c.stdin, req)
}

type callSink chan *response

func (s callSink) put(r *response) { s <- r }
func (s callSink) fail(err error)  { s <- &response{Err: asError(err)} }

// call sends req and waits for its response. When ctx ends first, the
// helper is told to cancel and the response is still awaited (it comes
// promptly), so that what the helper did is never lost.
func (c *Client) call(ctx context.Context, req *request) (*response, error) {
	s := make(callSink, 1)
	id, err := c.send(ctx, req, s)
	if err != nil {
		return nil, err
	}
	var r *response
	select {
	case r = <-s:
	case <-ctx.Done():
		_ = c.write(&request{ID: id, Method: mCancel})
		r = <-s
		// The helper only saw a cancel: report why it came (a deadline
		// is etcd not answering in time).
		if r.Err != nil && (r.Err.Code == CodeCanceled || r.Err.Code == CodeDeadline) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			r.Err = &Error{Code: CodeDeadline, Msg: strings.Replace(r.Err.Msg, context.Canceled.Error(), context.DeadlineExceeded.Error(), 1)}
		}
	}
	if r.Err != nil {
		return r, r.Err
	}
	return r, nil
}

// Close ends the helper: its stdin is closed, it exits, and locks still
// held expire with their leases.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	_ = c.stdin.Close()
	select {
	case <-c.exit:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exit
	}
	return nil
}

// Get implements Backend.
func (c *Client) Get(ctx context.Context, key string) ([]byte, bool, error) {
	r, err := c.call(ctx, &request{Method: mGet, Key: key})
	if err != nil {
		return nil, false, err
	}
	return r.Value, r.Found, nil
}

// Keys implements Backend.
func (c *Client) Keys(ctx context.Context, prefix string) ([]string, error) {
	r, err := c.call(ctx, &request{Method: mKeys, Key: prefix})
	if err != nil {
		return nil, err
	}
	return r.Keys, nil
}

// Delete implements Backend.
func (c *Client) Delete(ctx context.Context, key string) error {
	_, err := c.call(ctx, &request{Method: mDelete, Key: key})
	return err
}

// CreateIfAbsent implements Backend.
func (c *Client) CreateIfAbsent(ctx context.Context, key string, ops ...Op) (bool, error) {
	r, err := c.call(ctx, &request{Method: mCreate, Key: key, Ops: ops})
	if err != nil {
		return false, err
	}
	return r.OK, nil
}

// Lock implements Backend.
func (c *Client) Lock(ctx context.Context, prefix string, ttl int, wait time.Duration) (Mutex, error) {
	r, err := c.call(ctx, &request{Method: mLock, Key: prefix, TTL: ttl, Wait: wait})
	if err != nil {
		return nil, err
	}
	m := &procMutex{c: c, id: r.Lock, lease: r.Lease, done: make(chan struct{})}
	c.mu.Lock()
	if c.dead != nil {
		c.mu.Unlock()
		m.end()
		return m, nil
	}
	c.locks[m.id] = m
	c.mu.Unlock()
	if ctx.Err() != nil {
		// Taken after the caller gave up: give it back.
		_ = m.Unlock(context.WithoutCancel(ctx))
		return nil, ctx.Err()
	}
	return m, nil
}

// Watch implements Backend.
func (c *Client) Watch(ctx context.Context, prefix string) <-chan WatchResponse {
	out := make(chan WatchResponse)
	s := &watchSink{wake: make(chan struct{}, 1)}
	id, err := c.send(ctx, &request{Method: mWatch, Key: prefix}, s)
	if err != nil {
		go func() { out <- WatchResponse{Err: err}; close(out) }()
		return out
	}
	go func() {
		defer close(out)
		canceled := false
		for {
			batch, end, err := s.take()
			for _, r := range batch {
				select {
				case out <- WatchResponse{Events: r.Events, Created: r.Created}:
				case <-ctx.Done():
				}
			}
			if end {
				if err != nil && ctx.Err() == nil {
					out <- WatchResponse{Err: err}
				}
				return
			}
			select {
			case <-s.wake:
			case <-ctx.Done():
				if !canceled {
					canceled = true
					_ = c.write(&request{ID: id, Method: mCancel})
				}
				// Wait for the end (the helper answers the cancel).
				<-s.wake
			}
		}
	}()
	return out
}

// watchSink queues a watch's responses (the reader never blocks on a
// slow consumer); past maxQueued the watch ends with an error and the
// consumer re-reads what it watches.
type watchSink struct {
	mu    sync.Mutex
	queue []*response
	end   bool
	err   error
	wake  chan struct{}
}

const maxQueued = 4096

func (s *watchSink) put(r *response) {
	s.mu.Lock()
	switch {
	case s.end:
	case r.End:
		s.end = true
		if r.Err != nil {
			s.err = r.Err
		}
	case len(s.queue) >= maxQueued:
		s.end, s.err = true, &Error{Code: CodeUnavailable, Msg: "etcd watch fell behind"}
	default:
		s.queue = append(s.queue, r)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *watchSink) fail(err error) { s.put(&response{End: true, Err: asError(err)}) }

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeProtocol, Msg: err.Error()}
}

func (s *watchSink) take() ([]*response, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	if s.err != nil {
		return q, s.end, s.err
	}
	return q, s.end, nil
}

// procMutex is a lock held by the helper's session.
type procMutex struct {
	c     *Client
	id    uint64
	lease int64
	once  sync.Once
	done  chan struct{}
}

func (m *procMutex) end() { m.once.Do(func() { close(m.done) }) }

func (m *procMutex) Lease() int64          { return m.lease }
func (m *procMutex) Done() <-chan struct{} { return m.done }

func (m *procMutex) Txn(ctx context.Context, ops ...Op) (bool, error) {
	r, err := m.c.call(ctx, &request{Method: mTxn, Lock: m.id, Ops: ops})
	if err != nil {
		return false, err
	}
	return r.OK, nil
}

func (m *procMutex) forget() {
	m.c.mu.Lock()
	delete(m.c.locks, m.id)
	m.c.mu.Unlock()
	m.end()
}

func (m *procMutex) Unlock(ctx context.Context) error {
	defer m.forget()
	_, err := m.c.call(ctx, &request{Method: mUnlock, Lock: m.id})
	return err
}

func (m *procMutex) Orphan() {
	defer m.forget()
	_, _ = m.c.call(context.Background(), &request{Method: mOrphan, Lock: m.id})
}
