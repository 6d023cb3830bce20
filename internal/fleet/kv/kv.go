// Package kv is the transport boundary between fleet mode and etcd: the
// few operations internal/fleet needs (reads, transactions conditioned on
// a lock or on a key's absence, locks on leases, watches) as plain Go
// types, and a small framed protocol (wire.go) that carries them to the
// acmectl-etcd helper process, which holds the real etcd client
// (internal/fleet/etcdkv).
//
// The acmectl binary links this package but not etcd, grpc, protobuf or
// zap: Go runs the initialisation of every linked package on every start,
// so only a command run with --storage etcd:// pays for them, in the
// helper it starts (docs/dev/fleet-transport.md).
package kv

import (
	"context"
	"errors"
	"time"
)

// Op is one write inside a transaction.
type Op struct {
	Kind  OpKind `json:"kind"`
	Key   string `json:"key"`
	Value []byte `json:"value,omitempty"`
	// Prefix (delete): every key starting with Key.
	Prefix bool `json:"prefix,omitempty"`
	// LockLease (put, in Mutex.Txn): the key is attached to the lock's
	// lease and vanishes with it.
	LockLease bool `json:"lock_lease,omitempty"`
}

// OpKind says what an Op does.
type OpKind string

// The kinds of Op.
const (
	OpPut    OpKind = "put"
	OpDelete OpKind = "delete"
)

// Put writes value under key.
func Put(key string, value []byte) Op { return Op{Kind: OpPut, Key: key, Value: value} }

// PutWithLockLease writes value under key, attached to the lease of the
// lock the transaction is conditioned on.
func PutWithLockLease(key string, value []byte) Op {
	return Op{Kind: OpPut, Key: key, Value: value, LockLease: true}
}

// Delete removes key.
func Delete(key string) Op { return Op{Kind: OpDelete, Key: key} }

// DeletePrefix removes every key starting with prefix.
func DeletePrefix(prefix string) Op { return Op{Kind: OpDelete, Key: prefix, Prefix: true} }

// Event is one change seen by a watch: the key's new value, or its
// deletion.
type Event struct {
	Key     string `json:"key"`
	Value   []byte `json:"value,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
}

// WatchResponse is a batch of events, the notice that the watch is in
// place (Created: every change from then on is reported, so a consumer
// reads the current values after it), or the error that ended the watch
// (the channel is closed after it).
type WatchResponse struct {
	Events  []Event
	Created bool
	Err     error
}

// Backend is etcd as fleet mode uses it. Implementations are safe for
// concurrent use.
type Backend interface {
	// Get returns the value of key; found is false when it does not exist.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Keys returns the keys starting with prefix, sorted ascending.
	Keys(ctx context.Context, prefix string) ([]string, error)
	// Delete removes key (unconditionally).
	Delete(ctx context.Context, key string) error
	// CreateIfAbsent runs ops in one transaction if key does not exist
	// (create revision 0); it reports whether they ran.
	CreateIfAbsent(ctx context.Context, key string, ops ...Op) (bool, error)
	// Lock takes the mutex at prefix on a new session whose lease lives
	// ttl seconds after the last keep-alive. wait <= 0 tries once;
	// otherwise it waits up to wait. Held elsewhere: ErrLocked.
	Lock(ctx context.Context, prefix string, ttl int, wait time.Duration) (Mutex, error)
	// Watch reports changes under prefix until ctx ends or the watch
	// fails (the last response carries the error); the channel is then
	// closed. The first response says Created once etcd has set the
	// watch up. The watch needs a leader (an isolated member ends it).
	Watch(ctx context.Context, prefix string) <-chan WatchResponse
	// Close ends the connection. Locks not released expire with their
	// leases.
	Close() error
}

// Mutex is a held lock.
type Mutex interface {
	// Txn runs ops in one transaction if the lock is still owned (the
	// mutex key's create revision); it reports whether they ran.
	Txn(ctx context.Context, ops ...Op) (bool, error)
	// Lease is the session's lease ID.
	Lease() int64
	// Done is closed when the session ends: lease lost, Unlock, Orphan,
	// or the connection to etcd (or to the helper) gone.
	Done() <-chan struct{}
	// Unlock releases the lock and revokes the lease (bounded: a lease
	// not revoked in time expires on its own).
	Unlock(ctx context.Context) error
	// Orphan stops keeping the lease alive without releasing anything,
	// as a killed process would (tests).
	Orphan()
}

// ErrLocked is returned (wrapped) by Lock when another session holds the
// lock past the wait.
var ErrLocked = errors.New("lock held by another session")

// Error codes carried by the protocol.
const (
	CodeUnavailable = "unavailable" // etcd unreachable, no leader, timed out
	CodeLocked      = "locked"
	CodeCanceled    = "canceled"
	CodeDeadline    = "deadline"
	CodeProtocol    = "protocol" // the helper misbehaved or died
	CodeOther       = "other"    // refused by etcd (auth, permission, …)
)

// Error is an error of the backend as carried over the protocol.
type Error struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is see ErrLocked and the context errors.
func (e *Error) Unwrap() error {
	switch e.Code {
	case CodeLocked:
		return ErrLocked
	case CodeCanceled:
		return context.Canceled
	case CodeDeadline:
		return context.DeadlineExceeded
	}
	return nil
}

// IsUnavailable reports whether err means etcd (or the helper that talks
// to it) could not be reached in time, as opposed to a refusal.
func IsUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var e *Error
	return errors.As(err, &e) && (e.Code == CodeUnavailable || e.Code == CodeProtocol)
}
