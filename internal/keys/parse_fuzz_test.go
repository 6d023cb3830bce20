package keys

import (
	"strings"
	"testing"
)

// FuzzParsePrivateKeyPEM: a key file that fails to parse never echoes its
// content in the error; an accepted key round-trips.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	k, _ := Generate(EC256)
	pemKey, _ := MarshalPrivateKeyPEM(k)
	f.Add(pemKey)
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nY2FuYXJ5LXNlY3JldA==\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParsePrivateKeyPEM(data)
		if err != nil {
			for _, line := range strings.Split(string(data), "\n") {
				if len(line) >= 16 && strings.Contains(err.Error(), line) {
					t.Fatalf("error echoes key material: %v", err)
				}
			}
			return
		}
		again, err := MarshalPrivateKeyPEM(key)
		if err != nil {
			t.Fatalf("accepted key does not marshal: %v", err)
		}
		if _, err := ParsePrivateKeyPEM(again); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzParseCertificateChainPEM: strict chains only.
func FuzzParseCertificateChainPEM(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificateChainPEM(data)
		if err != nil {
			return
		}
		if len(certs) == 0 {
			t.Fatal("empty chain accepted")
		}
		if strings.Contains(string(data), "PRIVATE KEY") {
			t.Fatal("chain with a key block accepted")
		}
	})
}
