package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rfc9773AppendixA is the example certificate of RFC 9773 Appendix A; §4.1
// gives its certID as aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE.
const rfc9773AppendixA = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
`

func TestCertIDRFC9773Example(t *testing.T) {
	block, _ := pem.Decode([]byte(rfc9773AppendixA))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("ParseCertificate(RFC 9773 Appendix A): %v", err)
	}
	got, err := CertID(cert)
	if err != nil {
		t.Fatalf("CertID: %v", err)
	}
	if want := "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"; got != want {
		t.Errorf("CertID(Appendix A) = %q; want %q", got, want)
	}
}

// issue makes a certificate with the given serial, signed by a CA with the
// given subject key ID (nil: self-signed leaf without AKI).
func issue(t *testing.T, serial *big.Int, caSKI []byte) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "example.test"},
		NotBefore:    ariT0,
		NotAfter:     ariT0.Add(90 * ariDay),
	}
	parent := leaf
	if caSKI != nil {
		parent = &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "Test CA"},
			NotBefore:             ariT0,
			NotAfter:              ariT0.Add(900 * ariDay),
			IsCA:                  true,
			BasicConstraintsValid: true,
			SubjectKeyId:          caSKI,
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, parent, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCertIDSerialEncoding(t *testing.T) {
	ski := []byte{0x69, 0x88, 0x5b, 0x6b, 0x87, 0x46, 0x40, 0x41, 0xe1, 0xb3, 0x7b, 0x84, 0x7b, 0xa0, 0xae, 0x2c, 0xde, 0x01, 0xc8, 0xd4}
	tests := []struct {
		name   string
		serial *big.Int
		want   string // serial half
	}{
		{"one", big.NewInt(1), "AQ"},
		{"high bit gets a zero byte", big.NewInt(0x87654321), "AIdlQyE"},
		{"0x7f no zero byte", big.NewInt(0x7f), "fw"},
		{"0x80", big.NewInt(0x80), "AIA"},
		{"0xff00", big.NewInt(0xff00), "AP8A"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CertID(issue(t, tc.serial, ski))
			if err != nil {
				t.Fatalf("CertID: %v", err)
			}
			if want := "aYhba4dGQEHhs3uEe6CuLN4ByNQ." + tc.want; got != want {
				t.Errorf("CertID(serial %#x) = %q; want %q", tc.serial, got, want)
			}
		})
	}
}

// Round trip: the two halves decode to the AKI and to the serial, for
// random 159-bit serials like Let's Encrypt's.
func TestCertIDRoundTrip(t *testing.T) {
	ski := []byte("0123456789abcdefghij")
	limit := new(big.Int).Lsh(big.NewInt(1), 159)
	for i := range 20 {
		serial, err := rand.Int(rand.Reader, limit)
		if err != nil {
			t.Fatal(err)
		}
		serial.Add(serial, big.NewInt(1))
		id, err := CertID(issue(t, serial, ski))
		if err != nil {
			t.Fatalf("CertID: %v", err)
		}
		aki64, ser64, ok := strings.Cut(id, ".")
		if !ok || strings.Contains(id, "=") {
			t.Fatalf("CertID = %q; want two unpadded halves", id)
		}
		aki, err1 := base64.RawURLEncoding.DecodeString(aki64)
		ser, err2 := base64.RawURLEncoding.DecodeString(ser64)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("decode CertID %q: %v", id, err)
		}
		if string(aki) != string(ski) {
			t.Errorf("#%d: AKI half = %x; want %x", i, aki, ski)
		}
		if len(ser) > 1 && ser[0] == 0 && ser[1]&0x80 == 0 {
			t.Errorf("#%d: serial half %x has a needless leading zero", i, ser)
		}
		if ser[0]&0x80 != 0 {
			t.Errorf("#%d: serial half %x would read as negative", i, ser)
		}
		if got := new(big.Int).SetBytes(ser); got.Cmp(serial) != 0 {
			t.Errorf("#%d: serial half = %x; want %x", i, got, serial)
		}
	}
}

func TestCertIDNoAKI(t *testing.T) {
	cert := issue(t, big.NewInt(42), nil)
	if len(cert.AuthorityKeyId) != 0 {
		t.Fatalf("test certificate has an AKI %x", cert.AuthorityKeyId)
	}
	if _, err := CertID(cert); !errors.Is(err, ErrNoAKI) {
		t.Errorf("CertID(no AKI) error = %v; want ErrNoAKI", err)
	}
	if _, err := CertID(nil); err == nil {
		t.Error("CertID(nil) = nil error; want one")
	}
}

func TestRawSerial(t *testing.T) {
	mustMarshal := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type v1 struct { // no [0] version: a v1 TBSCertificate starts with the serial
		Serial *big.Int
		Rest   string
	}
	type noInt struct{ S string }
	if got, err := rawSerial(mustMarshal(v1{big.NewInt(0x8000), "x"})); err != nil || fmt.Sprintf("%x", got) != "008000" {
		t.Errorf("rawSerial(v1) = %x, %v; want 008000, nil", got, err)
	}
	for name, in := range map[string][]byte{
		"empty":        nil,
		"not sequence": mustMarshal(7),
		"no integer":   mustMarshal(noInt{"x"}),
		"trailing":     append(mustMarshal(v1{big.NewInt(1), "x"}), 0),
	} {
		if got, err := rawSerial(in); err == nil {
			t.Errorf("rawSerial(%s) = %x, nil; want an error", name, got)
		}
	}
}

func TestParseRenewalInfo(t *testing.T) {
	good := func(start, end, extra string) string {
		return `{"suggestedWindow":{"start":"` + start + `","end":"` + end + `"}` + extra + `}`
	}
	rfcStart, rfcEnd := time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC), time.Date(2025, 1, 3, 4, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		body string
		want *RenewalInfo // nil: an error is expected
	}{
		{"RFC 9773 §4.2 example", `{
  "suggestedWindow": {
    "start": "2025-01-02T04:00:00Z",
    "end": "2025-01-03T04:00:00Z"
  },
  "explanationURL": "https://acme.example.com/docs/ari"
}`, &RenewalInfo{rfcStart, rfcEnd, "https://acme.example.com/docs/ari"}},
		{"no explanation", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", ""), &RenewalInfo{Start: rfcStart, End: rfcEnd}},
		{"null explanation", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"explanationURL":null`), &RenewalInfo{Start: rfcStart, End: rfcEnd}},
		{"offsets and fractions", good("2025-01-02T06:00:00.5+02:00", "2025-01-03T04:00:00Z", ""),
			&RenewalInfo{Start: rfcStart.Add(500 * time.Millisecond), End: rfcEnd}},
		{"unknown members ignored", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"future":{"x":[1]}`), &RenewalInfo{Start: rfcStart, End: rfcEnd}},
		{"1ns window", good("2025-01-02T04:00:00Z", "2025-01-02T04:00:00.000000001Z", ""), &RenewalInfo{Start: rfcStart, End: rfcStart.Add(1)}},
		{"400 days", good("2025-01-02T04:00:00Z", "2026-02-06T04:00:00Z", ""), &RenewalInfo{Start: rfcStart, End: rfcStart.Add(400 * ariDay)}},

		{"empty body", ``, nil},
		{"array", `[]`, nil},
		{"null", `null`, nil},
		{"no window", `{"explanationURL":"https://x.example/"}`, nil},
		{"window null", `{"suggestedWindow":null}`, nil},
		{"no start", `{"suggestedWindow":{"end":"2025-01-03T04:00:00Z"}}`, nil},
		{"no end", `{"suggestedWindow":{"start":"2025-01-03T04:00:00Z"}}`, nil},
		{"numeric start", `{"suggestedWindow":{"start":1735790400,"end":"2025-01-03T04:00:00Z"}}`, nil},
		{"end equals start", good("2025-01-02T04:00:00Z", "2025-01-02T04:00:00Z", ""), nil},
		{"end before start", good("2025-01-03T04:00:00Z", "2025-01-02T04:00:00Z", ""), nil},
		{"not RFC 3339", good("2025-01-02 04:00:00", "2025-01-03T04:00:00Z", ""), nil},
		{"no zone", good("2025-01-02T04:00:00", "2025-01-03T04:00:00Z", ""), nil},
		{"400 days + 1s", good("2025-01-02T04:00:00Z", "2026-02-06T04:00:01Z", ""), nil},
		{"year 1", good("0001-01-02T04:00:00Z", "0001-01-03T04:00:00Z", ""), nil},
		{"year 9999", good("9999-01-02T04:00:00Z", "9999-01-03T04:00:00Z", ""), nil},
		{"trailing garbage", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", "") + "x", nil},
		{"two objects", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", "") + "{}", nil},
		{"explanation http", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"explanationURL":"http://x.example/"`), nil},
		{"explanation javascript", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"explanationURL":"javascript:alert(1)"`), nil},
		{"explanation relative", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"explanationURL":"/docs"`), nil},
		{"explanation control char", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"explanationURL":"https://x.example/\u001b[31m"`), nil},
		{"explanation newline", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"explanationURL":"https://x.example/\nfake log line"`), nil},
		{"explanation userinfo", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"explanationURL":"https://ca.example@evil.example/"`), nil},
		{"explanation not a string", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"explanationURL":5`), nil},
		{"explanation too long", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", `,"explanationURL":"https://x.example/`+strings.Repeat("a", 2100)+`"`), nil},
		{"too big", good("2025-01-02T04:00:00Z", "2025-01-03T04:00:00Z", "") + strings.Repeat(" ", MaxRenewalInfoSize), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRenewalInfo([]byte(tc.body))
			if tc.want == nil {
				var rie *RenewalInfoError
				if !errors.As(err, &rie) {
					t.Errorf("ParseRenewalInfo(%.80q) = %+v, %v; want *RenewalInfoError", tc.body, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRenewalInfo(%.80q): %v", tc.body, err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("ParseRenewalInfo(%.80q) mismatch (-want +got):\n%s", tc.body, d)
			}
		})
	}
}

// Round trip: a window serialised as a CA would and parsed again is equal.
func TestParseRenewalInfoRoundTrip(t *testing.T) {
	for i := range 10 {
		start := ariT0.Add(time.Duration(i) * 37 * time.Hour).Add(time.Duration(i) * time.Millisecond)
		in := RenewalInfo{Start: start, End: start.Add(time.Duration(i+1) * ariDay), ExplanationURL: fmt.Sprintf("https://ca.example/ari/%d?x=y#z", i)}
		var body struct {
			SuggestedWindow struct {
				Start string `json:"start"`
				End   string `json:"end"`
			} `json:"suggestedWindow"`
			ExplanationURL string `json:"explanationURL"`
		}
		body.SuggestedWindow.Start = in.Start.Format(time.RFC3339Nano)
		body.SuggestedWindow.End = in.End.In(time.FixedZone("", -7*3600)).Format(time.RFC3339Nano)
		body.ExplanationURL = in.ExplanationURL
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRenewalInfo(b)
		if err != nil {
			t.Fatalf("ParseRenewalInfo(%s): %v", b, err)
		}
		if d := cmp.Diff(&in, got); d != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", b, d)
		}
	}
}

var ariT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

const ariDay = 24 * time.Hour
