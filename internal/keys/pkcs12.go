package keys

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"software.sslmate.com/src/go-pkcs12"
)

// WritePKCS12 writes leaf, its chain and the private key in keyPEM as a
// PKCS#12 file at path, encrypted with password (AES-256/SHA-256, or
// 3DES/SHA-1 when legacy, for old Windows and Java), atomically (a
// temporary file in the same directory, synced, renamed) and 0600.
func WritePKCS12(path string, keyPEM []byte, leaf *x509.Certificate, chain []*x509.Certificate, password string, legacy bool) error {
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return fmt.Errorf("pkcs12: %w", err)
	}
	enc := pkcs12.Modern2023
	if legacy {
		enc = pkcs12.LegacyDES
	}
	pfx, err := enc.Encode(key, leaf, chain, password)
	if err != nil {
		return fmt.Errorf("pkcs12: encode: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("pkcs12: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(pfx)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("pkcs12: %w", err)
	}
	return nil
}
