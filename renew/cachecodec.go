package renew

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// The cache file's encoding: a magic line, then per certificate its name,
// the state.json key (inode, size, mtime) and, length-prefixed, every
// field of store.State as varints and length-prefixed strings. JSON of
// 10,000 states is 5 MB and took most of a no-op pass to decode (time
// parsing, reflection); this is a fifth of the size, and a state is
// decoded only when its entry is used (the bytes of the others are
// written back as they are).
// TestCacheCodecCoversState fails when store.State gains a field this
// codec does not carry.
const cacheMagic = "acmectl-renew-cache 5\n"

const (
	flagARI = 1 << iota
	flagBackoff
	flagPending
	flagDeployPending
	flagLastError
	flagRevoked
)

func encodeCache(entries map[string]cacheEntry) []byte {
	e := &cacheEncoder{b: make([]byte, 0, 128*len(entries)+len(cacheMagic))}
	e.b = append(e.b, cacheMagic...)
	var st cacheEncoder
	for name, ce := range entries {
		raw := ce.raw
		if ce.State != nil {
			st.b = st.b[:0]
			st.state(ce.State)
			raw = st.b
		}
		if raw == nil {
			continue
		}
		e.str(name)
		e.b = binary.AppendUvarint(e.b, ce.Ino)
		e.b = binary.AppendVarint(e.b, ce.Size)
		e.b = binary.AppendVarint(e.b, ce.MTime)
		e.b = binary.AppendUvarint(e.b, uint64(len(raw)))
		e.b = append(e.b, raw...)
	}
	return e.b
}

type cacheEncoder struct{ b []byte }

func (e *cacheEncoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *cacheEncoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.b = binary.AppendVarint(e.b, t.Unix())
	e.b = binary.AppendUvarint(e.b, uint64(t.Nanosecond()))
}

func (e *cacheEncoder) state(s *store.State) {
	var flags uint64
	if s.ARI != nil {
		flags |= flagARI
	}
	if s.Backoff != nil {
		flags |= flagBackoff
	}
	if s.PendingOrder != nil {
		flags |= flagPending
	}
	if s.DeployPending {
		flags |= flagDeployPending
	}
	if s.LastError != nil {
		flags |= flagLastError
	}
	if s.Revoked {
		flags |= flagRevoked
	}
	e.b = binary.AppendUvarint(e.b, flags)
	for _, t := range []time.Time{s.RetryAfter, s.LastSuccess, s.LastAttempt, s.NotBefore, s.NotAfter} {
		e.time(t)
	}
	for _, v := range []string{s.Serial, s.Issuer, s.KeyType, s.IssuedBy, s.IssuedAccount, s.IssuedAccountURL} {
		e.str(v)
	}
	e.b = binary.AppendVarint(e.b, int64(s.Version))
	if a := s.ARI; a != nil {
		for _, t := range []time.Time{a.WindowStart, a.WindowEnd, a.ChosenTime, a.NextFetch, a.FetchedAt} {
			e.time(t)
		}
		e.str(a.ExplanationURL)
	}
	if b := s.Backoff; b != nil {
		e.b = binary.AppendVarint(e.b, int64(b.Failures))
		e.time(b.NextAttempt)
	}
	if p := s.PendingOrder; p != nil {
		e.str(p.URL)
		e.str(p.DirectoryURL)
		e.str(p.Account)
		e.b = binary.AppendUvarint(e.b, uint64(len(p.Names)))
		for _, n := range p.Names {
			e.str(n.Type)
			e.str(n.Value)
		}
		e.str(p.Replaces)
		e.str(p.Profile)
		e.time(p.Created)
		e.str(p.AccountURL)
	}
	if l := s.LastError; l != nil {
		e.str(l.Class)
		e.str(l.Message)
		e.time(l.Time)
		e.time(l.RetryAfter)
	}
}

var errCacheFormat = errors.New("renew cache: bad format")

// decodeCache parses what encodeCache wrote, leaving each state encoded
// (decodeState); anything else is an error (the caller then starts with
// an empty cache).
func decodeCache(b []byte) (map[string]cacheEntry, error) {
	if len(b) < len(cacheMagic) || string(b[:len(cacheMagic)]) != cacheMagic {
		return nil, errCacheFormat
	}
	d := &cacheDecoder{b: b[len(cacheMagic):]}
	m := make(map[string]cacheEntry, len(b)/128)
	for len(d.b) > 0 && d.err == nil {
		name := d.str()
		ce := cacheEntry{Ino: d.uvarint(), Size: d.varint(), MTime: d.varint()}
		n := d.uvarint()
		if d.err == nil && n > uint64(len(d.b)) {
			d.err = errCacheFormat
		}
		if d.err == nil {
			ce.raw, d.b = d.b[:n:n], d.b[n:]
			m[name] = ce
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// decodeState decodes one entry's state.
func decodeState(raw []byte) (*store.State, error) {
	d := &cacheDecoder{b: raw}
	s := d.state()
	if d.err == nil && len(d.b) != 0 {
		d.err = errCacheFormat
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

type cacheDecoder struct {
	b   []byte
	err error
}

func (d *cacheDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCacheFormat
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *cacheDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCacheFormat
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *cacheDecoder) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errCacheFormat
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *cacheDecoder) time() time.Time {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCacheFormat
		return time.Time{}
	}
	tag := d.b[0]
	d.b = d.b[1:]
	switch tag {
	case 0:
		return time.Time{}
	case 1:
		sec := d.varint()
		nsec := d.uvarint()
		if nsec >= 1e9 {
			d.err = errCacheFormat
		}
		return time.Unix(sec, int64(nsec)).UTC()
	}
	d.err = errCacheFormat
	return time.Time{}
}

func (d *cacheDecoder) state() *store.State {
	flags := d.uvarint()
	s := &store.State{
		RetryAfter: d.time(), LastSuccess: d.time(), LastAttempt: d.time(), NotBefore: d.time(), NotAfter: d.time(),
		Serial: d.str(), Issuer: d.str(), KeyType: d.str(), IssuedBy: d.str(), IssuedAccount: d.str(), IssuedAccountURL: d.str(),
		Version:       int(d.varint()),
		DeployPending: flags&flagDeployPending != 0,
		Revoked:       flags&flagRevoked != 0,
	}
	if flags&flagARI != 0 {
		s.ARI = &store.ARIState{WindowStart: d.time(), WindowEnd: d.time(), ChosenTime: d.time(), NextFetch: d.time(), FetchedAt: d.time(), ExplanationURL: d.str()}
	}
	if flags&flagBackoff != 0 {
		s.Backoff = &store.Backoff{Failures: int(d.varint()), NextAttempt: d.time()}
	}
	if flags&flagPending != 0 {
		p := &store.PendingOrder{URL: d.str(), DirectoryURL: d.str(), Account: d.str()}
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			d.err = errCacheFormat
			return nil
		}
		for range n {
			p.Names = append(p.Names, client.Identifier{Type: d.str(), Value: d.str()})
		}
		p.Replaces, p.Profile, p.Created, p.AccountURL = d.str(), d.str(), d.time(), d.str()
		s.PendingOrder = p
	}
	if flags&flagLastError != 0 {
		s.LastError = &store.LastError{Class: d.str(), Message: d.str(), Time: d.time(), RetryAfter: d.time()}
	}
	if flags >= flagRevoked<<1 {
		d.err = errCacheFormat
	}
	return s
}
