package kv

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// The protocol between acmectl and its acmectl-etcd helper, on the
// helper's stdin (requests) and stdout (responses): frames of a 4-byte
// big-endian length and one JSON object. The first request is "hello"
// with the protocol version and how to reach etcd; every later request
// carries an ID that its response (or, for a watch, its responses up to
// the one with End) repeats. A "cancel" request cancels the request with
// the same ID, which still gets its response. Notices with ID 0 say that
// a lock's session ended (Lost). The helper exits when its stdin ends:
// a parent that dies takes its helper with it, and the helper's leases
// expire as the parent's own would have.

// ProtocolVersion changes whenever a message changes meaning; acmectl
// and acmectl-etcd from different releases refuse each other.
const ProtocolVersion = 2 // 2: watch events carry values; a watch reports Created

// maxFrame bounds one message (the helper's answers carry etcd values of
// at most 1 MiB each; a key listing of a large fleet is the biggest).
const maxFrame = 64 << 20

// DialConfig is how the helper reaches etcd. Secrets (client key,
// password) travel only over the pipe, never in argv or the environment.
type DialConfig struct {
	Endpoints []string `json:"endpoints"`
	TLS       bool     `json:"tls,omitempty"`
	CAPEM     []byte   `json:"ca_pem,omitempty"` // empty: the system roots
	CertPEM   []byte   `json:"cert_pem,omitempty"`
	KeyPEM    []byte   `json:"key_pem,omitempty"`
	Username  string   `json:"username,omitempty"`
	Password  string   `json:"password,omitempty"`
}

type request struct {
	ID      uint64        `json:"id"`
	Method  string        `json:"m"`
	Key     string        `json:"key,omitempty"`
	Ops     []Op          `json:"ops,omitempty"`
	Lock    uint64        `json:"lock,omitempty"`
	TTL     int           `json:"ttl,omitempty"`
	Wait    time.Duration `json:"wait,omitempty"`
	Timeout time.Duration `json:"timeout,omitempty"` // the caller's deadline, if any
	Version int           `json:"version,omitempty"`
	Dial    *DialConfig   `json:"dial,omitempty"`
}

type response struct {
	ID      uint64   `json:"id"`
	Err     *Error   `json:"err,omitempty"`
	Value   []byte   `json:"value,omitempty"`
	Found   bool     `json:"found,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	OK      bool     `json:"ok,omitempty"`
	Lock    uint64   `json:"lock,omitempty"`
	Lease   int64    `json:"lease,omitempty"`
	Events  []Event  `json:"events,omitempty"`
	Created bool     `json:"created,omitempty"`
	End     bool     `json:"end,omitempty"`
	Lost    uint64   `json:"lost,omitempty"`
	Version int      `json:"version,omitempty"`
}

// Request methods.
const (
	mHello  = "hello"
	mGet    = "get"
	mKeys   = "keys"
	mDelete = "delete"
	mCreate = "create"
	mLock   = "lock"
	mTxn    = "txn"
	mUnlock = "unlock"
	mOrphan = "orphan"
	mWatch  = "watch"
	mCancel = "cancel"
)

func writeFrame(w io.Writer, v any) error {
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(js) > maxFrame {
		return fmt.Errorf("message of %d bytes exceeds %d", len(js), maxFrame)
	}
	buf := make([]byte, 4+len(js))
	binary.BigEndian.PutUint32(buf, uint32(len(js)))
	copy(buf[4:], js)
	_, err = w.Write(buf)
	return err
}

func readFrame(r *bufio.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("message of %d bytes exceeds %d", n, maxFrame)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return fmt.Errorf("truncated message: %w", err)
	}
	return json.Unmarshal(buf, v)
}

// ---- the serving side (the helper) ----

// Serve answers requests from r on w with the Backend that dial returns
// for the hello request, until r ends (nil) or breaks. It does not close
// the Backend: the helper exits right after, and locks still held expire
// with their leases, as they would had the parent been killed.
func Serve(r io.Reader, w io.Writer, dial func(DialConfig) (Backend, error)) error {
	s := &server{w: w, cancels: map[uint64]context.CancelFunc{}, locks: map[uint64]Mutex{}}
	br := bufio.NewReader(r)
	var hello request
	if err := readFrame(br, &hello); err != nil {
		return fmt.Errorf("read hello: %w", err)
	}
	if hello.Method != mHello || hello.Dial == nil {
		return errors.New("first request is not hello")
	}
	if hello.Version != ProtocolVersion {
		_ = s.send(&response{ID: hello.ID, Version: ProtocolVersion, Err: &Error{Code: CodeProtocol, Msg: fmt.Sprintf("acmectl-etcd speaks protocol %d, acmectl %d: install both from the same release", ProtocolVersion, hello.Version)}})
		return errors.New("protocol version mismatch")
	}
	b, err := dial(*hello.Dial)
	if err != nil {
		_ = s.send(&response{ID: hello.ID, Version: ProtocolVersion, Err: &Error{Code: CodeOther, Msg: err.Error()}})
		return err
	}
	s.b = b
	if err := s.send(&response{ID: hello.ID, Version: ProtocolVersion}); err != nil {
		return err
	}
	for {
		req := new(request)
		if err := readFrame(br, req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if req.Method == mCancel {
			s.mu.Lock()
			if c := s.cancels[req.ID]; c != nil {
				c()
			}
			s.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		if req.Timeout > 0 {
			ctx, cancel = context.WithTimeout(context.Background(), req.Timeout)
		}
		s.mu.Lock()
		s.cancels[req.ID] = cancel
		s.mu.Unlock()
		s.wg.Go(func() {
			s.handle(ctx, req)
			s.mu.Lock()
			delete(s.cancels, req.ID)
			s.mu.Unlock()
			cancel()
		})
	}
}

type server struct {
	b  Backend
	wg sync.WaitGroup

	wmu sync.Mutex
	w   io.Writer

	mu       sync.Mutex
	cancels  map[uint64]context.CancelFunc
	locks    map[uint64]Mutex
	nextLock uint64
}

func (s *server) send(r *response) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return writeFrame(s.w, r)
}

func (s *server) lock(id uint64) Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks[id]
}

func (s *server) handle(ctx context.Context, req *request) {
	resp := &response{ID: req.ID}
	var err error
	switch req.Method {
	case mGet:
		resp.Value, resp.Found, err = s.b.Get(ctx, req.Key)
	case mKeys:
		resp.Keys, err = s.b.Keys(ctx, req.Key)
	case mDelete:
		err = s.b.Delete(ctx, req.Key)
	case mCreate:
		resp.OK, err = s.b.CreateIfAbsent(ctx, req.Key, req.Ops...)
	case mLock:
		var m Mutex
		if m, err = s.b.Lock(ctx, req.Key, req.TTL, req.Wait); err == nil {
			s.mu.Lock()
			s.nextLock++
			id := s.nextLock
			s.locks[id] = m
			s.mu.Unlock()
			resp.Lock, resp.Lease = id, m.Lease()
			go func() {
				<-m.Done()
				s.mu.Lock()
				_, held := s.locks[id]
				delete(s.locks, id)
				s.mu.Unlock()
				if held {
					_ = s.send(&response{Lost: id})
				}
			}()
		}
	case mTxn:
		if m := s.lock(req.Lock); m == nil {
			resp.OK = false // released or lost: the condition fails
		} else {
			resp.OK, err = m.Txn(ctx, req.Ops...)
		}
	case mUnlock, mOrphan:
		s.mu.Lock()
		m := s.locks[req.Lock]
		delete(s.locks, req.Lock)
		s.mu.Unlock()
		if m != nil {
			if req.Method == mUnlock {
				err = m.Unlock(ctx)
			} else {
				m.Orphan()
			}
		}
	case mWatch:
		for wr := range s.b.Watch(ctx, req.Key) {
			if wr.Err != nil {
				err = wr.Err
				break
			}
			if serr := s.send(&response{ID: req.ID, Events: wr.Events, Created: wr.Created}); serr != nil {
				return
			}
		}
		if err == nil && ctx.Err() == nil {
			err = errors.New("etcd watch closed")
		}
		resp.End = true
	default:
		err = fmt.Errorf("unknown request %q", req.Method)
	}
	if err != nil {
		resp.Err = toError(err)
	}
	_ = s.send(resp)
}

func toError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Code: e.Code, Msg: err.Error()}
	}
	code := CodeOther
	switch {
	case errors.Is(err, ErrLocked):
		code = CodeLocked
	case errors.Is(err, context.DeadlineExceeded):
		code = CodeDeadline
	case errors.Is(err, context.Canceled):
		code = CodeCanceled
	}
	return &Error{Code: code, Msg: err.Error()}
}
