package client

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// ARI (ACME Renewal Information, RFC 9773): the certificate identifier used
// in renewalInfo URLs and in newOrder's "replaces", and a strict parser for
// RenewalInfo objects (Client.RenewalInfo fetches and parses one). Bytes
// from the CA are hostile: the parser bounds size and checks grammar before
// anything is stored.

// Limits applied to RenewalInfo responses.
const (
	// MaxRenewalInfoSize caps a RenewalInfo body. Real ones are ~150 bytes.
	MaxRenewalInfoSize = 16 << 10
	// MaxWindowLength is the longest suggested window accepted: a little
	// over the longest publicly trusted lifetime (398 days). Longer is
	// nonsense and is rejected rather than letting a CA park a renewal.
	MaxWindowLength = 400 * 24 * time.Hour
	// maxExplanationURL caps explanationURL; it is shown, never fetched.
	maxExplanationURL = 2048
)

// ErrNoAKI is returned by CertID for a certificate without an Authority Key
// Identifier keyIdentifier; such a certificate has no ARI identity.
var ErrNoAKI = errors.New("certificate has no authority key identifier")

// RenewalInfoError reports why a RenewalInfo body was refused. Per
// RFC 9773 §4.2 the caller treats it like no response at all: fall back to
// the lifetime rule and fetch again after ARIErrorRetry.
type RenewalInfoError struct {
	Reason string
}

func (e *RenewalInfoError) Error() string { return "invalid renewalInfo: " + e.Reason }

// CertID returns the RFC 9773 §4.1 identifier of cert:
// base64url(AKI keyIdentifier) "." base64url(serial), unpadded, where the
// serial is the content octets of the DER INTEGER exactly as encoded in the
// certificate (so 0x876543 21 becomes 00 87 65 43 21). It returns ErrNoAKI
// when the certificate lacks an AKI keyIdentifier.
func CertID(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", errors.New("certID: nil certificate")
	}
	if len(cert.AuthorityKeyId) == 0 {
		return "", fmt.Errorf("certID: %w", ErrNoAKI)
	}
	serial, err := rawSerial(cert.RawTBSCertificate)
	if err != nil {
		return "", fmt.Errorf("certID: %w", err)
	}
	return certIDFromParts(cert.AuthorityKeyId, serial), nil
}

func certIDFromParts(aki, serial []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString(aki) + "." + enc.EncodeToString(serial)
}

// rawSerial returns the content octets of the serialNumber INTEGER in a
// TBSCertificate, read from the encoding rather than recomputed from a
// big.Int, so the identifier matches what the CA signed byte for byte.
func rawSerial(tbs []byte) ([]byte, error) {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(tbs, &seq); err != nil || len(rest) != 0 ||
		seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence {
		return nil, errors.New("parse tbsCertificate: not a SEQUENCE")
	}
	body := seq.Bytes
	var el asn1.RawValue
	rest, err := asn1.Unmarshal(body, &el)
	if err != nil {
		return nil, fmt.Errorf("parse tbsCertificate: %w", err)
	}
	if el.Class == asn1.ClassContextSpecific && el.Tag == 0 { // [0] EXPLICIT version
		if rest, err = asn1.Unmarshal(rest, &el); err != nil {
			return nil, fmt.Errorf("parse tbsCertificate serial: %w", err)
		}
	}
	if el.Class != asn1.ClassUniversal || el.Tag != asn1.TagInteger || len(el.Bytes) == 0 {
		return nil, errors.New("parse tbsCertificate: serial is not an INTEGER")
	}
	return el.Bytes, nil
}

// RenewalInfo is a validated RFC 9773 §4.2 RenewalInfo object.
type RenewalInfo struct {
	// Start and End bound the suggested window; Start is before End.
	Start, End time.Time
	// ExplanationURL is an absolute https URL or empty. Show it to the
	// operator (escaped); never fetch it.
	ExplanationURL string
}

// ParseRenewalInfo parses a RenewalInfo body strictly: at most
// MaxRenewalInfoSize bytes, one JSON object and nothing after it,
// suggestedWindow with RFC 3339 start and end, start before end, a window no
// longer than MaxWindowLength, and explanationURL, when present, an absolute
// https URL without control characters or user info. Unknown members are
// ignored (the object is extensible, RFC 9773 §7.2). All refusals are
// *RenewalInfoError.
func ParseRenewalInfo(body []byte) (*RenewalInfo, error) {
	if len(body) > MaxRenewalInfoSize {
		return nil, &RenewalInfoError{fmt.Sprintf("body of %d bytes exceeds %d", len(body), MaxRenewalInfoSize)}
	}
	var raw struct {
		SuggestedWindow *struct {
			Start *string `json:"start"`
			End   *string `json:"end"`
		} `json:"suggestedWindow"`
		ExplanationURL *string `json:"explanationURL"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, &RenewalInfoError{fmt.Sprintf("decode JSON: %v", err)}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &RenewalInfoError{"trailing data after the JSON object"}
	}
	w := raw.SuggestedWindow
	if w == nil {
		return nil, &RenewalInfoError{"suggestedWindow missing"}
	}
	if w.Start == nil || w.End == nil {
		return nil, &RenewalInfoError{"suggestedWindow needs start and end"}
	}
	start, err := parseTimestamp("start", *w.Start)
	if err != nil {
		return nil, err
	}
	end, err := parseTimestamp("end", *w.End)
	if err != nil {
		return nil, err
	}
	if !start.Before(end) {
		return nil, &RenewalInfoError{"suggestedWindow end is not after start"}
	}
	if end.Sub(start) > MaxWindowLength {
		return nil, &RenewalInfoError{fmt.Sprintf("suggestedWindow longer than %v", MaxWindowLength)}
	}
	ri := &RenewalInfo{Start: start, End: end}
	if raw.ExplanationURL != nil {
		u, err := checkExplanationURL(*raw.ExplanationURL)
		if err != nil {
			return nil, err
		}
		ri.ExplanationURL = u
	}
	return ri, nil
}

func parseTimestamp(field, s string) (time.Time, error) {
	if len(s) > 64 {
		return time.Time{}, &RenewalInfoError{"suggestedWindow " + field + " too long"}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, &RenewalInfoError{fmt.Sprintf("suggestedWindow %s %q is not RFC 3339", field, s)}
	}
	// Years before 2000 or from 9000 on are not a renewal schedule.
	if y := t.UTC().Year(); y < 2000 || y >= 9000 {
		return time.Time{}, &RenewalInfoError{fmt.Sprintf("suggestedWindow %s %q is out of range", field, s)}
	}
	return t.UTC(), nil
}

func checkExplanationURL(s string) (string, error) {
	if len(s) > maxExplanationURL {
		return "", &RenewalInfoError{"explanationURL too long"}
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "", &RenewalInfoError{"explanationURL contains control or space characters"}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", &RenewalInfoError{fmt.Sprintf("explanationURL %q is not an absolute https URL", s)}
	}
	return s, nil
}
