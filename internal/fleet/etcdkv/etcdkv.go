// Package etcdkv is the kv.Backend of fleet mode on the real etcd client
// (go.etcd.io/etcd/client/v3 and its concurrency package). Only the
// acmectl-etcd helper links it; acmectl reaches it through the protocol
// of internal/fleet/kv.
package etcdkv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/acmectl/acmectl/internal/fleet/kv"
)

// opTimeout bounds one operation when the caller set no deadline.
const opTimeout = 10 * time.Second

// Backend is a kv.Backend on an etcd client.
type Backend struct {
	cli *clientv3.Client
}

var _ kv.Backend = (*Backend)(nil)

// Dial creates the etcd client for cfg. It connects lazily: no network
// round trip happens here, so a host whose etcd is down can still start.
func Dial(cfg kv.DialConfig) (*Backend, error) {
	cc := clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               zap.NewNop(),
		// Reconnect quickly after an etcd outage: the responder must
		// answer the CA as soon as the host that orders is back.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		})},
		Username: cfg.Username,
		Password: cfg.Password,
	}
	if cfg.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if len(cfg.CAPEM) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(cfg.CAPEM) {
				return nil, errors.New("etcd CA: no PEM certificate")
			}
			tc.RootCAs = pool
		}
		if len(cfg.CertPEM) > 0 {
			pair, err := tls.X509KeyPair(cfg.CertPEM, cfg.KeyPEM)
			if err != nil {
				return nil, fmt.Errorf("etcd client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{pair}
		}
		cc.TLS = tc
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return &Backend{cli: cli}, nil
}

// Close closes the client.
func (b *Backend) Close() error { return b.cli.Close() }

func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, opTimeout)
}

// wrap classifies an etcd client error for the protocol.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	code := kv.CodeOther
	var se interface{ GRPCStatus() *status.Status }
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = kv.CodeDeadline
	case errors.Is(err, context.Canceled):
		code = kv.CodeCanceled
	case errors.As(err, &se):
		switch se.GRPCStatus().Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			code = kv.CodeUnavailable
		case codes.Canceled:
			code = kv.CodeCanceled
		}
	}
	return &kv.Error{Code: code, Msg: fmt.Sprintf("etcd %s: %v", what, err)}
}

// Get implements kv.Backend.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	resp, err := b.cli.Get(ctx, key)
	if err != nil {
		return nil, false, wrap("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, false, nil
	}
	return resp.Kvs[0].Value, true, nil
}

// Keys implements kv.Backend.
func (b *Backend) Keys(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	resp, err := b.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, wrap("list "+prefix, err)
	}
	out := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = string(kv.Key)
	}
	return out, nil
}

// Delete implements kv.Backend.
func (b *Backend) Delete(ctx context.Context, key string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	_, err := b.cli.Delete(ctx, key)
	return wrap("delete "+key, err)
}

func ops(in []kv.Op, lease clientv3.LeaseID) ([]clientv3.Op, error) {
	out := make([]clientv3.Op, 0, len(in))
	for _, o := range in {
		switch o.Kind {
		case kv.OpPut:
			var opts []clientv3.OpOption
			if o.LockLease {
				if lease == clientv3.NoLease {
					return nil, errors.New("put with the lock's lease outside a lock")
				}
				opts = append(opts, clientv3.WithLease(lease))
			}
			out = append(out, clientv3.OpPut(o.Key, string(o.Value), opts...))
		case kv.OpDelete:
			var opts []clientv3.OpOption
			if o.Prefix {
				opts = append(opts, clientv3.WithPrefix())
			}
			out = append(out, clientv3.OpDelete(o.Key, opts...))
		default:
			return nil, fmt.Errorf("unknown operation %q", o.Kind)
		}
	}
	return out, nil
}

// CreateIfAbsent implements kv.Backend.
func (b *Backend) CreateIfAbsent(ctx context.Context, key string, in ...kv.Op) (bool, error) {
	o, err := ops(in, clientv3.NoLease)
	if err != nil {
		return false, err
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	resp, err := b.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).Then(o...).Commit()
	if err != nil {
		return false, wrap("transaction on "+key, err)
	}
	return resp.Succeeded, nil
}

// Lock implements kv.Backend: a concurrency.Mutex on its own session.
func (b *Backend) Lock(ctx context.Context, prefix string, ttl int, wait time.Duration) (kv.Mutex, error) {
	// The session's keep-alive outlives this call: not derived from ctx.
	sess, err := concurrency.NewSession(b.cli, concurrency.WithTTL(ttl), concurrency.WithContext(context.WithoutCancel(ctx)))
	if err != nil {
		return nil, wrap("session", err)
	}
	mu := concurrency.NewMutex(sess, prefix)
	if wait <= 0 {
		tctx, cancel := bounded(ctx)
		err = mu.TryLock(tctx)
		cancel()
	} else {
		tctx, cancel := context.WithTimeout(ctx, wait)
		err = mu.Lock(tctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = concurrency.ErrLocked
		}
	}
	if err != nil {
		closeSession(sess)
		if errors.Is(err, concurrency.ErrLocked) {
			return nil, &kv.Error{Code: kv.CodeLocked, Msg: "lock " + prefix + ": " + kv.ErrLocked.Error()}
		}
		return nil, wrap("lock "+prefix, err)
	}
	return &mutex{b: b, sess: sess, mu: mu}, nil
}

func closeSession(s *concurrency.Session) {
	done := make(chan struct{})
	go func() { _ = s.Close(); close(done) }() // revokes the lease (bounded by the TTL)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		s.Orphan()
	}
}

type mutex struct {
	b    *Backend
	sess *concurrency.Session
	mu   *concurrency.Mutex
}

func (m *mutex) Lease() int64          { return int64(m.sess.Lease()) }
func (m *mutex) Done() <-chan struct{} { return m.sess.Done() }
func (m *mutex) Orphan()               { m.sess.Orphan() }

func (m *mutex) Txn(ctx context.Context, in ...kv.Op) (bool, error) {
	o, err := ops(in, m.sess.Lease())
	if err != nil {
		return false, err
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	resp, err := m.b.cli.Txn(ctx).If(m.mu.IsOwner()).Then(o...).Commit()
	if err != nil {
		return false, wrap("write", err)
	}
	return resp.Succeeded, nil
}

func (m *mutex) Unlock(ctx context.Context) error {
	select {
	case <-m.sess.Done():
	default:
		uctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_ = m.mu.Unlock(uctx)
		cancel()
	}
	closeSession(m.sess)
	return nil
}

// Watch implements kv.Backend.
func (b *Backend) Watch(ctx context.Context, prefix string) <-chan kv.WatchResponse {
	out := make(chan kv.WatchResponse)
	go func() {
		defer close(out)
		for resp := range b.cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify()) {
			if err := resp.Err(); err != nil {
				out <- kv.WatchResponse{Err: wrap("watch", err)}
				return
			}
			evs := make([]kv.Event, len(resp.Events))
			for i, ev := range resp.Events {
				evs[i] = kv.Event{Key: string(ev.Kv.Key), Deleted: ev.Type == clientv3.EventTypeDelete}
				if !evs[i].Deleted {
					evs[i].Value = ev.Kv.Value
				}
			}
			select {
			case out <- kv.WatchResponse{Events: evs, Created: resp.Created}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
