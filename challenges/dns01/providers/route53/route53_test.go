package route53_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
	"github.com/acmectl/acmectl/challenges/dns01/providers/providertest"
)

const (
	keyID  = "AKIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

type r53Zone struct {
	id, name string
	private  bool
}

// fakeRoute53 is a stateful Route 53: hosted zones over Zones, atomic
// change batches (a DELETE must match the set exactly), changes PENDING
// for a number of GetChange polls, requests verified with SigV4 and
// validated against the service model's shapes (shape_test.go,
// testdata/route53-2013-04-01.json).
type fakeRoute53 struct {
	t      *testing.T
	model  *model
	zones  *providertest.Zones
	hosted []r53Zone
	keys   map[string]string // access key ID → secret (sts-issued ones too)

	vmu        sync.Mutex // violations and counts
	violations []string
	counts     map[string]int

	mu         sync.Mutex // the rest
	pending    int
	changes    map[string]int
	nextChange int
	before     func()
	throttle   int // answer that many requests with 400 Throttling
	invalid    int // InvalidChangeBatch answers
	refused    int
}

func (f *fakeRoute53) violate(format string, args ...any) {
	f.vmu.Lock()
	defer f.vmu.Unlock()
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
}

func (f *fakeRoute53) count(op string) int {
	f.vmu.Lock()
	defer f.vmu.Unlock()
	return f.counts[op]
}

// verify checks the SigV4 signature against the key's secret.
func (f *fakeRoute53) verify(r *http.Request, body []byte) (code string) {
	auth := r.Header.Get("Authorization")
	cred, _, _ := strings.Cut(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 Credential="), ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[3] != "route53" || parts[2] != "us-east-1" {
		return "IncompleteSignature"
	}
	f.mu.Lock()
	sec, ok := f.keys[parts[0]]
	f.mu.Unlock()
	if !ok {
		return "InvalidClientTokenId"
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "IncompleteSignature"
	}
	clone, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	for _, h := range []string{"Content-Type", "X-Amz-Security-Token"} {
		if v := r.Header.Get(h); v != "" {
			clone.Header.Set(h, v)
		}
	}
	sum := sha256.Sum256(body)
	_ = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: parts[0], SecretAccessKey: sec, SessionToken: r.Header.Get("X-Amz-Security-Token")},
		clone, hex.EncodeToString(sum[:]), "route53", "us-east-1", when)
	if sig(clone.Header.Get("Authorization")) != sig(auth) {
		return "SignatureDoesNotMatch"
	}
	return ""
}

func sig(auth string) string {
	_, s, _ := strings.Cut(auth, "Signature=")
	return s
}

func (f *fakeRoute53) answer(w http.ResponseWriter, op, what string, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		f.violate("marshal %s: %v", op, err)
	}
	for _, v := range f.model.answer(op, what, b) {
		f.violate("%s", v)
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(append([]byte(xml.Header), b...))
}

type errorResponse struct {
	XMLName   xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ErrorResponse"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func (f *fakeRoute53) fail(w http.ResponseWriter, op string, status int, code, msg string) {
	f.answer(w, op, "Error", status, errorResponse{Type: "Sender", Code: code, Message: msg, RequestID: "req-1"})
}

func (f *fakeRoute53) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, "/2013-04-01")
	op := ""
	switch {
	case r.Method == http.MethodGet && path == "/hostedzonesbyname":
		op = "ListHostedZonesByName"
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/hostedzone/") && strings.HasSuffix(path, "/rrset"):
		op = "ListResourceRecordSets"
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/hostedzone/") && strings.HasSuffix(path, "/rrset/"):
		op = "ChangeResourceRecordSets"
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/hostedzone/"):
		op = "GetHostedZone"
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/change/"):
		op = "GetChange"
	default:
		f.violate("%s %s: not an operation of the model", r.Method, r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	violations := append(f.model.operation(op, r.Method, r.URL.Path), f.model.query(op, r.URL.Query())...)
	if op == "ChangeResourceRecordSets" {
		violations = append(violations, f.model.request(op, body)...)
	}
	for _, v := range violations {
		f.violate("%s", v)
	}
	f.vmu.Lock()
	f.counts[op]++
	f.vmu.Unlock()
	f.mu.Lock()
	throttle := f.throttle > 0
	if throttle {
		f.throttle--
	}
	f.mu.Unlock()
	if code := f.verify(r, body); code != "" {
		f.mu.Lock()
		f.refused++
		f.mu.Unlock()
		msg := "The security token included in the request is invalid."
		if code == "SignatureDoesNotMatch" {
			msg = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
		}
		f.fail(w, op, http.StatusForbidden, code, msg)
		return
	}
	if throttle {
		f.fail(w, op, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	}
	switch op {
	case "ListHostedZonesByName":
		f.listZones(w, r)
	case "GetHostedZone":
		id := strings.TrimPrefix(path, "/hostedzone/")
		for _, z := range f.hosted {
			if z.id == id {
				f.answer(w, op, op, http.StatusOK, getHostedZoneResponse{Zone: wireZone(z)})
				return
			}
		}
		f.fail(w, op, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+id)
	case "ListResourceRecordSets":
		z, ok := f.zone(strings.TrimSuffix(strings.TrimPrefix(path, "/hostedzone/"), "/rrset"))
		if !ok {
			f.fail(w, op, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found")
			return
		}
		f.listSets(w, r, z)
	case "ChangeResourceRecordSets":
		z, ok := f.zone(strings.TrimSuffix(strings.TrimPrefix(path, "/hostedzone/"), "/rrset/"))
		if !ok {
			f.fail(w, op, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found")
			return
		}
		f.changeSets(w, body, z)
	case "GetChange":
		f.getChange(w, strings.TrimPrefix(path, "/change/"))
	}
}

func (f *fakeRoute53) zone(id string) (r53Zone, bool) {
	for _, z := range f.hosted {
		if z.id == id {
			return z, true
		}
	}
	return r53Zone{}, false
}

type wzone struct {
	ID      string `xml:"Id"`
	Name    string `xml:"Name"`
	Caller  string `xml:"CallerReference"`
	Private bool   `xml:"Config>PrivateZone"`
	Count   int    `xml:"ResourceRecordSetCount"`
}

func wireZone(z r53Zone) wzone {
	return wzone{ID: "/hostedzone/" + z.id, Name: z.name + ".", Caller: "ref-" + z.id, Private: z.private, Count: 2}
}

type getHostedZoneResponse struct {
	XMLName xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ GetHostedZoneResponse"`
	Zone    wzone    `xml:"HostedZone"`
}

type listZonesResponse struct {
	XMLName     xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListHostedZonesByNameResponse"`
	Zones       []wzone  `xml:"HostedZones>HostedZone"`
	DNSName     string   `xml:"DNSName,omitempty"`
	IsTruncated bool     `xml:"IsTruncated"`
	NextDNSName string   `xml:"NextDNSName,omitempty"`
	NextZoneID  string   `xml:"NextHostedZoneId,omitempty"`
	MaxItems    int      `xml:"MaxItems"`
}

// reversed orders names as Route 53 lists them (labels reversed).
func reversed(name string) string {
	l := strings.Split(name, ".")
	slices.Reverse(l)
	return strings.Join(l, ".")
}

// listZones answers at most two zones a page, sorted by reversed name
// then ID, from dnsname (and hostedzoneid) on.
func (f *fakeRoute53) listZones(w http.ResponseWriter, r *http.Request) {
	all := slices.Clone(f.hosted)
	slices.SortFunc(all, func(a, b r53Zone) int {
		if c := strings.Compare(reversed(a.name), reversed(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	q := r.URL.Query()
	from, fromID := strings.TrimSuffix(q.Get("dnsname"), "."), q.Get("hostedzoneid")
	var list []r53Zone
	for _, z := range all {
		c := strings.Compare(reversed(z.name), reversed(from))
		if c > 0 || c == 0 && z.id >= fromID {
			list = append(list, z)
		}
	}
	const page = 2
	out := listZonesResponse{DNSName: q.Get("dnsname"), MaxItems: page}
	for i, z := range list {
		if i == page {
			out.IsTruncated, out.NextDNSName, out.NextZoneID = true, z.name+".", z.id
			break
		}
		out.Zones = append(out.Zones, wireZone(z))
	}
	f.answer(w, "ListHostedZonesByName", "ListHostedZonesByName", http.StatusOK, out)
}

type wset struct {
	Name    string `xml:"Name"`
	Type    string `xml:"Type"`
	TTL     int    `xml:"TTL"`
	Records []struct {
		Value string `xml:"Value"`
	} `xml:"ResourceRecords>ResourceRecord"`
}

func (s *wset) values() []string {
	var out []string
	for _, r := range s.Records {
		out = append(out, r.Value)
	}
	return out
}

func (s *wset) add(v string) {
	s.Records = append(s.Records, struct {
		Value string `xml:"Value"`
	}{v})
}

type listSetsResponse struct {
	XMLName     xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ListResourceRecordSetsResponse"`
	Sets        []wset   `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated bool     `xml:"IsTruncated"`
	NextName    string   `xml:"NextRecordName,omitempty"`
	NextType    string   `xml:"NextRecordType,omitempty"`
	MaxItems    int      `xml:"MaxItems"`
}

func (f *fakeRoute53) set(z r53Zone, name string) *wset {
	recs, _ := f.zones.Records(z.name)
	var s *wset
	for _, r := range recs {
		if r.Type == "TXT" && r.Name == strings.TrimSuffix(name, ".") {
			if s == nil {
				s = &wset{Name: r.Name + ".", Type: "TXT", TTL: r.TTL}
			}
			s.add(providers.TXTQuote(r.Value))
		}
	}
	return s
}

// listSets answers the sets from (name, type) on, as Route 53 does: the
// first may be another name when none is at name.
func (f *fakeRoute53) listSets(w http.ResponseWriter, r *http.Request, z r53Zone) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	out := listSetsResponse{MaxItems: 1}
	if s := f.set(z, strings.ToLower(q.Get("name"))); s != nil && q.Get("type") == "TXT" {
		out.Sets = []wset{*s}
	} else {
		// Route 53 starts at the next name in order: an SOA at the apex
		// stands for "some other set".
		soa := wset{Name: z.name + ".", Type: "SOA", TTL: 900}
		soa.add("ns-1.awsdns-1.org. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400")
		out.Sets = []wset{soa}
	}
	f.answer(w, "ListResourceRecordSets", "ListResourceRecordSets", http.StatusOK, out)
}

type changeRequest struct {
	Changes []struct {
		Action string `xml:"Action"`
		Set    wset   `xml:"ResourceRecordSet"`
	} `xml:"ChangeBatch>Changes>Change"`
}

type changeInfoXML struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
}

type changeResponse struct {
	XMLName xml.Name
	Info    changeInfoXML `xml:"ChangeInfo"`
}

type invalidChangeBatch struct {
	XMLName  xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ InvalidChangeBatch"`
	Messages []string `xml:"Messages>Message"`
}

func (f *fakeRoute53) changeSets(w http.ResponseWriter, body []byte, z r53Zone) {
	var req changeRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		f.fail(w, "ChangeResourceRecordSets", http.StatusBadRequest, "InvalidInput", "malformed")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.before != nil {
		run := f.before
		f.before = nil
		run()
	}
	deleted := map[string]bool{}
	for _, c := range req.Changes {
		cur := f.set(z, c.Set.Name)
		switch c.Action {
		case "DELETE":
			if cur == nil || cur.TTL != c.Set.TTL || !sameSet(cur.values(), c.Set.values()) {
				f.invalid++
				f.answer(w, "ChangeResourceRecordSets", "InvalidChangeBatch", http.StatusBadRequest, invalidChangeBatch{Messages: []string{
					fmt.Sprintf("[Tried to delete resource record set [name='%s', type='TXT'] but the values provided do not match the current values]", c.Set.Name)}})
				return
			}
			deleted[c.Set.Name] = true
		case "CREATE":
			if cur != nil && !deleted[c.Set.Name] {
				f.invalid++
				f.answer(w, "ChangeResourceRecordSets", "InvalidChangeBatch", http.StatusBadRequest, invalidChangeBatch{Messages: []string{
					fmt.Sprintf("[Tried to create resource record set [name='%s', type='TXT'] but it already exists]", c.Set.Name)}})
				return
			}
		}
	}
	for _, c := range req.Changes {
		var vals []string
		if c.Action != "DELETE" {
			for _, v := range c.Set.values() {
				vals = append(vals, providers.TXTUnquote(v))
			}
		}
		f.zones.SetRRSet(z.name, c.Set.Name, "TXT", c.Set.TTL, vals)
	}
	f.nextChange++
	id := "C" + strconv.Itoa(f.nextChange)
	f.changes[id] = f.pending
	status := "INSYNC"
	if f.pending > 0 {
		status = "PENDING"
	}
	f.answer(w, "ChangeResourceRecordSets", "ChangeResourceRecordSets", http.StatusOK, changeResponse{XMLName: xml.Name{Space: "https://route53.amazonaws.com/doc/2013-04-01/", Local: "ChangeResourceRecordSetsResponse"},
		Info: changeInfoXML{ID: "/change/" + id, Status: status, SubmittedAt: time.Now().UTC().Format(time.RFC3339)}})
}

func (f *fakeRoute53) getChange(w http.ResponseWriter, id string) {
	f.mu.Lock()
	n, ok := f.changes[id]
	if ok && n > 0 {
		f.changes[id] = n - 1
	}
	f.mu.Unlock()
	if !ok {
		f.fail(w, "GetChange", http.StatusNotFound, "NoSuchChange", "A change with the specified change ID does not exist.")
		return
	}
	status := "INSYNC"
	if n > 0 {
		status = "PENDING"
	}
	f.answer(w, "GetChange", "GetChange", http.StatusOK, changeResponse{XMLName: xml.Name{Space: "https://route53.amazonaws.com/doc/2013-04-01/", Local: "GetChangeResponse"},
		Info: changeInfoXML{ID: "/change/" + id, Status: status, SubmittedAt: time.Now().UTC().Format(time.RFC3339)}})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// fakeSTS answers AssumeRoleWithWebIdentity for one token and role,
// issuing a key the fake Route 53 accepts.
func fakeSTS(t *testing.T, f *fakeRoute53, token, role string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		if r.PostForm.Get("Action") != "AssumeRoleWithWebIdentity" || r.PostForm.Get("RoleArn") != role || r.PostForm.Get("WebIdentityToken") != token {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Couldn't retrieve verification key from your identity provider</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
			return
		}
		f.mu.Lock()
		f.keys["ASIASTSISSUED"] = "sts-secret"
		f.mu.Unlock()
		_, _ = fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIASTSISSUED</AccessKeyId><SecretAccessKey>sts-secret</SecretAccessKey><SessionToken>session-token</SessionToken><Expiration>%s</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`,
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRoute53(t *testing.T) {
	env := providertest.NewEnv(t, "example.test", "a.test", "b.test")
	f := &fakeRoute53{t: t, model: loadModel(t), zones: env.Zones, keys: map[string]string{keyID: secret}, counts: map[string]int{}, changes: map[string]int{},
		hosted: []r53Zone{{"ZPRIV1", "example.test", true}, {"ZPUB01", "example.test", false}, {"ZA0001", "a.test", false}, {"ZB0001", "b.test", false}}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		f.vmu.Lock()
		defer f.vmu.Unlock()
		for _, v := range f.violations {
			t.Errorf("fake Route 53 (model shapes): %s", v)
		}
	})
	vars := map[string]string{"AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": secret, "AWS_EC2_METADATA_DISABLED": "true"}
	base := map[string]string{"endpoint": srv.URL}
	newProvider := func(vars, opts map[string]string) (dns01.Provider, error) {
		return providertest.Build("route53", base, opts, vars)
	}
	mustProvider := func(t *testing.T) dns01.Provider { return providertest.MustBuild(t, "route53", base, nil, vars) }
	p := mustProvider(t)

	env.Common(t, "example.test", mustProvider)
	t.Run("public hosted zone, found across pages", func(t *testing.T) {
		for name, want := range map[string]string{"_acme-challenge.x.example.test.": "example.test", "_acme-challenge.x.b.test.": "b.test"} {
			zone, ok, err := p.(dns01.ZoneKnower).KnownZone(t.Context(), name)
			if err != nil || !ok || zone != want {
				t.Fatalf("KnownZone(%s) = %q, %v, %v", name, zone, ok, err)
			}
		}
		if err := p.SetTXT(t.Context(), "_acme-challenge.x.example.test.", "pub"); err != nil {
			t.Fatal(err)
		}
		if got := env.Zones.TXT("_acme-challenge.x.example.test"); !slices.Equal(got, []string{"pub"}) {
			t.Fatalf("TXT = %q", got)
		}
		_ = p.DeleteTXT(t.Context(), "_acme-challenge.x.example.test.", "pub")
	})
	t.Run("waits for INSYNC", func(t *testing.T) {
		f.mu.Lock()
		f.pending = 1
		f.mu.Unlock()
		defer func() { f.mu.Lock(); f.pending = 0; f.mu.Unlock() }()
		before := f.count("GetChange")
		if err := p.SetTXT(t.Context(), "_acme-challenge.sync.example.test.", "v"); err != nil {
			t.Fatal(err)
		}
		if got := f.count("GetChange") - before; got != 2 {
			t.Fatalf("GetChange requests = %d; want 2 (PENDING, then INSYNC)", got)
		}
		_ = p.DeleteTXT(t.Context(), "_acme-challenge.sync.example.test.", "v")
	})
	t.Run("a concurrent writer's value survives", func(t *testing.T) {
		env.ConcurrentWriter(t, p, "example.test", "_acme-challenge.race.example.test",
			func(hook func()) { f.mu.Lock(); f.before = hook; f.mu.Unlock() },
			func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.invalid })
	})
	t.Run("throttled: retried with backoff", func(t *testing.T) {
		f.mu.Lock()
		f.throttle = 2
		f.mu.Unlock()
		name := "_acme-challenge.throttled.example.test."
		if err := p.SetTXT(t.Context(), name, "v"); err != nil {
			t.Fatal(err)
		}
		if got := env.Check(name); !slices.Equal(got, []string{"v"}) {
			t.Fatalf("TXT = %q", got)
		}
		_ = p.DeleteTXT(t.Context(), name, "v")
	})
	t.Run("zone not found", func(t *testing.T) {
		providertest.ZoneNotFound(t, p, "_acme-challenge.www.nowhere.test.", "route53: no zone holding _acme-challenge.www.nowhere.test")
	})
	t.Run("hosted-zone-id", func(t *testing.T) {
		p, err := newProvider(vars, map[string]string{"hosted-zone-id": "/hostedzone/ZA0001"})
		if err != nil {
			t.Fatal(err)
		}
		zone, ok, err := p.(dns01.ZoneKnower).KnownZone(t.Context(), "_acme-challenge.www.a.test.")
		if err != nil || !ok || zone != "a.test" {
			t.Fatalf("KnownZone = %q, %v, %v", zone, ok, err)
		}
	})
	t.Run("wrong secret: one line naming the variable", func(t *testing.T) {
		bad := map[string]string{"AWS_ACCESS_KEY_ID": keyID, "AWS_SECRET_ACCESS_KEY": "wrong", "AWS_EC2_METADATA_DISABLED": "true"}
		p, err := newProvider(bad, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = p.SetTXT(t.Context(), "_acme-challenge.example.test.", "v")
		want := "route53: the credentials from AWS_SECRET_ACCESS_KEY (key " + keyID + ") were refused (HTTP 403 on GET /2013-04-01/hostedzonesbyname: SignatureDoesNotMatch: "
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("err = %q\nwant prefix %q", err, want)
		}
	})
	t.Run("no credentials: one line listing the sources", func(t *testing.T) {
		_, err := newProvider(map[string]string{"AWS_EC2_METADATA_DISABLED": "true", "HOME": t.TempDir()}, nil)
		if err == nil || !strings.HasPrefix(err.Error(), "route53: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("shared credentials file profile", func(t *testing.T) {
		home := t.TempDir()
		_ = os.MkdirAll(filepath.Join(home, ".aws"), 0o700)
		_ = os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte("[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n[dns]\naws_access_key_id = "+keyID+"\naws_secret_access_key = "+secret+"\n"), 0o600)
		p, err := newProvider(map[string]string{"HOME": home, "AWS_PROFILE": "dns", "AWS_EC2_METADATA_DISABLED": "true"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.(dns01.AccessChecker).CheckAccess(t.Context(), "_acme-challenge.example.test."); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("web identity through STS", func(t *testing.T) {
		sts := fakeSTS(t, f, "oidc-token", "arn:aws:iam::123456789012:role/acme-dns")
		tok := filepath.Join(t.TempDir(), "token")
		_ = os.WriteFile(tok, []byte("oidc-token\n"), 0o600)
		wi := map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": tok, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/acme-dns",
			"AWS_ENDPOINT_URL_STS": sts.URL, "AWS_EC2_METADATA_DISABLED": "true"}
		p, err := newProvider(wi, nil)
		if err != nil {
			t.Fatal(err)
		}
		name := "_acme-challenge.wi.example.test."
		if err := p.SetTXT(t.Context(), name, "v"); err != nil {
			t.Fatal(err)
		}
		_ = p.DeleteTXT(t.Context(), name, "v")
		_ = os.WriteFile(tok, []byte("expired-token\n"), 0o600)
		p, _ = newProvider(wi, nil)
		err = p.SetTXT(t.Context(), name, "v")
		if err == nil || !strings.HasPrefix(err.Error(), "route53: the credentials from AWS_WEB_IDENTITY_TOKEN_FILE (role arn:aws:iam::123456789012:role/acme-dns) were refused by STS AssumeRoleWithWebIdentity (HTTP 400: InvalidIdentityToken") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("plain http endpoint off loopback refused", func(t *testing.T) {
		_, err := newProvider(vars, map[string]string{"endpoint": "http://route53.example.net"})
		if err == nil || !strings.Contains(err.Error(), "want https") {
			t.Fatalf("err = %v", err)
		}
	})
}
