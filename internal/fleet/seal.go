package fleet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
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

// Sealer seals private keys stored in etcd with AES-256-GCM. The etcd key
// the value is stored under is the additional data, so a sealed value
// copied to another key does not open. A nil *Sealer stores plaintext
// (with --storage-plaintext-keys) and refuses sealed values.
type Sealer struct{ aead cipher.AEAD }

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
	return &Sealer{aead: aead}, nil
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

// Open reverses Seal. A plaintext value opens with or without a Sealer
// (logged once per call site as a warning when a Sealer is configured, so
// that a fleet moving to sealed keys can still read old values).
func (s *Sealer) Open(k string, stored []byte, log *slog.Logger) ([]byte, error) {
	if rest, ok := bytes.CutPrefix(stored, plainMagic); ok {
		if s != nil && log != nil {
			log.Warn("private key stored in etcd without encryption", "key", k)
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
