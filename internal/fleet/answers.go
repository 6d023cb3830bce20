package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/tlsalpn01"
	"github.com/acmectl/acmectl/internal/fleet/kv"
	"github.com/acmectl/acmectl/internal/store"
)

// maxAnswer bounds a published challenge answer read from etcd.
const maxAnswer = 4096

// answer is a published challenge answer, the JSON value under
// challenges/http-01/<token> or challenges/tls-alpn-01/<sni>.
type answer struct {
	Type     string `json:"type"`  // identifier type
	Value    string `json:"value"` // identifier value
	KeyAuth  string `json:"key_authorization"`
	Wildcard bool   `json:"wildcard,omitempty"`
	// MAC authenticates the etcd key and the fields above under the
	// storage key (Sealer.answerMAC); empty without one.
	MAC []byte `json:"mac,omitempty"`
}

// ErrAnswerAuth is returned (wrapped) for a challenge answer in etcd whose
// MAC is missing or wrong: it was not published by a holder of the storage
// key, so no responder serves it.
var ErrAnswerAuth = errors.New("challenge answer in etcd is not authenticated by the storage key")

// answerKey is where the answer to ch is published, with the stored value
// (authenticated when a storage key is configured).
func (f *Fleet) answerKey(typ string, ch challenges.Challenge) (string, []byte, error) {
	var k string
	switch typ {
	case challenges.HTTP01:
		if !validToken(ch.Token) {
			return "", nil, fmt.Errorf("http-01: refusing token %q", ch.Token)
		}
		k = f.key("challenges", "http-01", ch.Token)
	case challenges.TLSALPN01:
		sni, err := tlsalpn01.ServerName(ch.Identifier)
		if err != nil {
			return "", nil, err
		}
		k = f.key("challenges", "tls-alpn-01", sni)
	default:
		return "", nil, fmt.Errorf("fleet publisher: unsupported challenge type %q", typ)
	}
	a := answer{Type: ch.Identifier.Type, Value: ch.Identifier.Value, KeyAuth: ch.KeyAuthorization, Wildcard: ch.Wildcard}
	if err := answerFits(k, f.key("challenges")+"/", &a); err != nil {
		return "", nil, err
	}
	a.MAC = f.sealer.answerMAC(k, &a)
	js, err := json.Marshal(&a)
	if err != nil {
		return "", nil, err
	}
	return k, js, nil
}

// decodeAnswer parses and checks the answer stored at etcd key k: its MAC
// (with a storage key), and that it answers what its key says (the token's
// key authorization, the SNI name's identifier). Anyone with etcd write
// access can put anything there.
func (f *Fleet) decodeAnswer(k string, data []byte) (*answer, error) {
	if len(data) > maxAnswer {
		return nil, fmt.Errorf("%s: challenge answer larger than %d bytes", k, maxAnswer)
	}
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("%s: challenge answer: %w", k, err)
	}
	if err := f.sealer.verifyAnswer(k, &a); err != nil {
		return nil, err
	}
	if err := answerFits(k, f.key("challenges")+"/", &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// answerFits checks that a is an answer for etcd key k (under pfx, the
// challenges prefix): a key authorization of the token in the key (http-01)
// or an identifier whose SNI name is the key's (tls-alpn-01), of sane
// grammar and size.
func answerFits(k, pfx string, a *answer) error {
	typ, id, ok := strings.Cut(strings.TrimPrefix(k, pfx), "/")
	if !ok || !strings.HasPrefix(k, pfx) {
		return fmt.Errorf("%s: not a challenge answer key", k)
	}
	token, thumb, ok := strings.Cut(a.KeyAuth, ".")
	if !ok || !validToken(token) || !validToken(thumb) || len(a.KeyAuth) > 1024 {
		return fmt.Errorf("%s: malformed key authorization", k)
	}
	switch typ {
	case "http-01":
		if token != id {
			return fmt.Errorf("%s: key authorization is for another token", k)
		}
	case "tls-alpn-01":
		sni, err := tlsalpn01.ServerName(challenges.Identifier{Type: a.Type, Value: a.Value})
		if err != nil || sni != id {
			return fmt.Errorf("%s: answer does not match the server name", k)
		}
	default:
		return fmt.Errorf("%s: unknown challenge type", k)
	}
	return nil
}

// fallbackGap is the least time between two etcd reads made for a request
// the cache cannot answer (at most 4 per second, whatever the request
// rate).
const fallbackGap = 250 * time.Millisecond

// answerCache holds the challenge answers published in etcd, kept current
// by a watch on the challenges prefix, so that answering a request (the
// CA's or anyone's) costs no etcd read. Only answers that pass
// decodeAnswer (the storage key's MAC) enter it.
//
// A request for an answer the cache lacks may come just before the watch
// delivers it (the CA can be quick, and after an etcd outage the watch
// comes back only after its backoff); such a miss reads etcd once, but at
// most one read per fallbackGap for all misses together, so a flood of
// requests for unknown tokens costs a bounded number of reads. Requests
// for the key read last, within the gap, share that read: a CA's
// validation asks several times at once.
type answerCache struct {
	f   *Fleet
	pfx string
	log *slog.Logger

	mu      sync.RWMutex
	answers map[string]*answer // by etcd key; guarded by mu
	synced  atomic.Bool        // watch in place and answers read

	fbMu     sync.Mutex // held during a fallback read
	fbNext   time.Time  // guarded by fbMu
	fbKey    string     // the key fallen back on last; guarded by fbMu
	fbAnswer *answer    // what that read found (nil: nothing); guarded by fbMu
}

func newAnswerCache(f *Fleet, log *slog.Logger) *answerCache {
	return &answerCache{f: f, pfx: f.key("challenges") + "/", log: log, answers: map[string]*answer{}}
}

// Retry delays of the answer cache's watch. Short: until it is back in
// place every request misses the cache and only the rate-limited fallback
// reads answer the CA (after an etcd outage the daemon's 30 s backoff
// would leave the responders on it for that long), and a watch attempt
// costs etcd little.
const (
	answerRetryMin = 250 * time.Millisecond
	answerRetryMax = 2 * time.Second
)

// run keeps the cache current until ctx ends: watch, read what is there
// once the watch is in place, then apply every change; after a failed
// watch, again with backoff.
func (c *answerCache) run(ctx context.Context) {
	backoff := answerRetryMin
	for ctx.Err() == nil {
		if c.follow(ctx) {
			backoff = answerRetryMin
		}
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, answerRetryMax)
	}
}

// follow runs one watch; it reports whether the cache got in sync.
func (c *answerCache) follow(ctx context.Context) bool {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := c.f.kv.Watch(wctx, c.pfx)
	synced := false
	for resp := range ch {
		if resp.Err != nil {
			c.log.Debug("challenge answer watch interrupted", "err", resp.Err)
			c.synced.Store(false)
			return synced
		}
		if resp.Created && !synced {
			if err := c.load(ctx); err != nil {
				c.log.Debug("challenge answers not read", "err", err)
				return false
			}
			synced = true
			c.synced.Store(true)
		}
		for _, ev := range resp.Events {
			c.apply(ev)
		}
	}
	c.synced.Store(false)
	return synced
}

// load replaces the cache by what etcd holds now.
func (c *answerCache) load(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	keys, err := c.f.kv.Keys(lctx, c.pfx)
	if err != nil {
		return err
	}
	m := map[string]*answer{}
	for _, k := range keys {
		v, _, err := c.f.get(lctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if a := c.decode(k, v); a != nil {
			m[k] = a
		}
	}
	c.mu.Lock()
	c.answers = m
	c.mu.Unlock()
	return nil
}

func (c *answerCache) apply(ev kv.Event) {
	var a *answer
	if !ev.Deleted {
		a = c.decode(ev.Key, ev.Value)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if a == nil {
		delete(c.answers, ev.Key)
		return
	}
	c.answers[ev.Key] = a
}

// decode is decodeAnswer, logging (and dropping) what fails it.
func (c *answerCache) decode(k string, v []byte) *answer {
	a, err := c.f.decodeAnswer(k, v)
	if err != nil {
		c.log.Warn("challenge answer in etcd refused; not served", "key", k, "err", err)
		return nil
	}
	return a
}

// lookup returns the answer stored at etcd key k: from the cache, else
// (fallbackGap permitting) from etcd.
func (c *answerCache) lookup(ctx context.Context, k string) (*answer, bool) {
	c.mu.RLock()
	a, ok := c.answers[k]
	c.mu.RUnlock()
	if ok {
		return a, true
	}
	c.fbMu.Lock()
	defer c.fbMu.Unlock()
	if time.Now().Before(c.fbNext) {
		if k == c.fbKey && c.fbAnswer != nil {
			return c.fbAnswer, true
		}
		return nil, false
	}
	c.fbNext = time.Now().Add(fallbackGap)
	c.fbKey, c.fbAnswer = k, nil
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, _, err := c.f.get(ctx, k)
	if err != nil {
		return nil, false
	}
	// Not added to the cache: the watch delivers it (and its removal).
	if a = c.decode(k, v); a == nil {
		return nil, false
	}
	c.fbAnswer = a
	return a, true
}
