package fleet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
)

// sealMagic starts every sealed value; plainMagic a plaintext key stored
// with --storage-plaintext-keys (so a reader knows which it has).
var (
	sealMagic  = []byte("acmectl-sealed-v1\x00")
	plainMagic = []byte("acmectl-plain-v1\x00")
)

// ErrSealed is returned (wrapped) when a sealed value cannot be opened:
// no key file configured, a different key, or the value was tampered with
// or moved to another etcd key.
var ErrSealed = errors.New("cannot open sealed private key")

// ErrUnsealed is returned (wrapped) for a plaintext private key in etcd
// while a storage key is configured: whoever can write etcd could plant
// it, so it is never used.
var ErrUnsealed = errors.New("private key stored in etcd without encryption although --storage-key-file is set")

// ErrRecordAuth is returned (wrapped) for a published certificate record
// whose MAC is missing or wrong: it was not written by a holder of the
// storage key.
var ErrRecordAuth = errors.New("certificate record in etcd is not authenticated by the storage key")

// Sealer seals private keys stored in etcd with AES-256-GCM. The etcd key
// the value is stored under is the additional data, so a sealed value
// copied to another key does not open. A nil *Sealer stores plaintext
// (with --storage-plaintext-keys) and refuses sealed values.
//
// It also authenticates what hosts install or serve from etcd: an
// HMAC-SHA256 under keys derived (HKDF-SHA256) from the storage key, one
// for certificate records (recordMAC) and one for challenge answers.
type Sealer struct {
	aead            cipher.AEAD
	recKey, chalKey []byte
}

// NewSealer builds a Sealer from the content of a key file: 32 raw bytes,
// 64 hex digits, or base64 (standard or URL, padded or not) of 32 bytes;
// surrounding whitespace is ignored.
func NewSealer(keyFile []byte) (*Sealer, error) {
	key, err := decodeKey(keyFile)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("storage key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("storage key: %w", err)
	}
	recKey, err := hkdf.Key(sha256.New, key, nil, "acmectl fleet certificate record v1", 32)
	if err != nil {
		return nil, fmt.Errorf("storage key: %w", err)
	}
	chalKey, err := hkdf.Key(sha256.New, key, nil, "acmectl fleet challenge answer v1", 32)
	if err != nil {
		return nil, fmt.Errorf("storage key: %w", err)
	}
	return &Sealer{aead: aead, recKey: recKey, chalKey: chalKey}, nil
}

func decodeKey(b []byte) ([]byte, error) {
	if len(b) == 32 {
		return b, nil
	}
	s := string(bytes.TrimSpace(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, &ConfigError{Msg: "--storage-key-file: want 32 random bytes (raw, 64 hex digits or base64), e.g. head -c 32 /dev/urandom > key"}
}

// Seal returns the stored form of a private key PEM for etcd key k.
func (s *Sealer) Seal(k string, plain []byte) ([]byte, error) {
	if s == nil {
		return append(append([]byte{}, plainMagic...), plain...), nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := append(append([]byte{}, sealMagic...), nonce...)
	return s.aead.Seal(out, nonce, plain, []byte(k)), nil
}

// Open reverses Seal. A plaintext value opens only without a Sealer
// (--storage-plaintext-keys); with one it is an error wrapping ErrUnsealed
// (a fleet moving to sealed keys re-issues, or re-publishes with the key).
func (s *Sealer) Open(k string, stored []byte, log *slog.Logger) ([]byte, error) {
	if rest, ok := bytes.CutPrefix(stored, plainMagic); ok {
		if s != nil {
			return nil, fmt.Errorf("%s: %w", k, ErrUnsealed)
		}
		return rest, nil
	}
	rest, ok := bytes.CutPrefix(stored, sealMagic)
	if !ok {
		return nil, fmt.Errorf("%s: %w: unknown format", k, ErrSealed)
	}
	if s == nil {
		return nil, fmt.Errorf("%s: %w: it is encrypted; give --storage-key-file", k, ErrSealed)
	}
	ns := s.aead.NonceSize()
	if len(rest) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%s: %w: truncated", k, ErrSealed)
	}
	plain, err := s.aead.Open(nil, rest[:ns], rest[ns:], []byte(k))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: wrong --storage-key-file or tampered value", k, ErrSealed)
	}
	return plain, nil
}

// mac is HMAC-SHA256 under key over parts, each length-prefixed so that no
// two different lists give the same input.
func mac(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		m.Write(n[:])
		m.Write(p)
	}
	return m.Sum(nil)
}

// recordMAC authenticates a published version stored at etcd key k: its
// certificate, chain, fullchain, names and generation (nil without a
// storage key).
func (s *Sealer) recordMAC(k string, v *Version) []byte {
	if s == nil {
		return nil
	}
	parts := [][]byte{[]byte(k), []byte(strconv.Itoa(v.Generation)), v.Cert, v.Chain, v.Fullchain}
	for _, n := range v.Names {
		parts = append(parts, []byte(n.Value))
	}
	return mac(s.recKey, parts...)
}

// checkRecord verifies v's MAC; without a storage key there is none to
// verify (documented: etcd write access then owns the fleet).
func (s *Sealer) checkRecord(k string, v *Version) error {
	if s == nil {
		return nil
	}
	if len(v.MAC) == 0 || !hmac.Equal(v.MAC, s.recordMAC(k, v)) {
		return fmt.Errorf("%s: %w", k, ErrRecordAuth)
	}
	return nil
}

// answerMAC authenticates a challenge answer stored at etcd key k: the key
// (which names the challenge type and the token or SNI name) and every
// field of the answer (nil without a storage key).
func (s *Sealer) answerMAC(k string, a *answer) []byte {
	if s == nil {
		return nil
	}
	wildcard := "0"
	if a.Wildcard {
		wildcard = "1"
	}
	return mac(s.chalKey, []byte(k), []byte(a.Type), []byte(a.Value), []byte(a.KeyAuth), []byte(wildcard))
}

// verifyAnswer checks a's MAC; without a storage key there is none to
// check (documented: etcd write access then gives issuance for the fleet's
// names).
func (s *Sealer) verifyAnswer(k string, a *answer) error {
	if s == nil {
		return nil
	}
	if len(a.MAC) == 0 || !hmac.Equal(a.MAC, s.answerMAC(k, a)) {
		return fmt.Errorf("%s: %w", k, ErrAnswerAuth)
	}
	return nil
}
