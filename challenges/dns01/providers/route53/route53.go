// Package route53 is a dns01.Provider for Amazon Route 53 (API
// 2013-04-01, REST-XML) over net/http, signed with the AWS SDK's
// Signature Version 4 signer.
//
// A TXT record set is changed with one atomic change batch that deletes
// the set as read and creates the new one; Route 53 refuses the batch when
// the set changed meanwhile (InvalidChangeBatch) and the provider reads it
// again, so concurrent values and other tools' values survive. It then
// waits for the change to be INSYNC (on all Route 53 servers).
//
// Credentials are found in the order of the AWS SDK's default chain (see
// creds.go). The SDK's config and route53 service packages are not used:
// they add about 3.5 MB and 1.4 ms of package initialisation (endpoint
// tables built at start) to every acmectl run; the signer, the IMDSv2
// client and the container credentials client are (about 0.6 MB, no
// measurable initialisation). docs/dev/dns-cloud-providers.md has the
// figures.
package route53

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

// APIVersion is the Route 53 API version used.
const APIVersion = "2013-04-01"

const (
	xmlns       = "https://route53.amazonaws.com/doc/2013-04-01/"
	defaultTTL  = 60
	maxAttempts = 5
	maxRetries  = 4
	maxPages    = 20
	maxBody     = 4 << 20
	maxWait     = 5 * time.Minute
)

// partition is the Route 53 endpoint and signing region of an AWS
// partition.
type partition struct{ endpoint, region string }

func partitionOf(region string) partition {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return partition{"https://route53.amazonaws.com.cn", "cn-northwest-1"}
	case strings.HasPrefix(region, "us-gov-"):
		return partition{"https://route53.us-gov.amazonaws.com", "us-gov-west-1"}
	}
	return partition{"https://route53.amazonaws.com", "us-east-1"}
}

var (
	itemRegion   = creds.Item{What: "region", Env: []string{"ACMECTL_ROUTE53_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"}}
	itemZoneID   = creds.Item{What: "hosted zone ID", Env: []string{"ACMECTL_ROUTE53_HOSTED_ZONE_ID", "AWS_HOSTED_ZONE_ID"}}
	itemPrivate  = creds.Item{What: "private zone switch", Env: []string{"ACMECTL_ROUTE53_PRIVATE_ZONE", "AWS_PRIVATE_ZONE"}}
	itemTTL      = creds.Item{What: "TTL", Env: []string{"ACMECTL_ROUTE53_TTL", "AWS_TTL"}}
	itemWait     = creds.Item{What: "wait switch", Env: []string{"ACMECTL_ROUTE53_WAIT_INSYNC", "AWS_WAIT_FOR_RECORD_SETS_CHANGED"}}
	itemEndpoint = creds.Item{What: "Route 53 endpoint", Env: []string{"AWS_ENDPOINT_URL_ROUTE_53"}}
)

// Provider changes TXT record sets in Route 53. It is safe for concurrent
// use.
type Provider struct {
	name    string
	base    *url.URL
	client  *http.Client
	log     *slog.Logger
	ua      string
	region  string // signing region
	creds   *aws.CredentialsCache
	from    string
	private bool
	ttl     int
	wait    bool
	finder  providers.ZoneFinder
	providers.SetAPI
}

var (
	_ dns01.Provider      = (*Provider)(nil)
	_ dns01.ZoneKnower    = (*Provider)(nil)
	_ dns01.AccessChecker = (*Provider)(nil)
)

// New builds the provider and finds the credentials (files and
// environment only; instance roles and STS are asked when first needed).
func New(cfg providers.Config) (dns01.Provider, error) {
	name := cfg.Name
	if name == "" {
		name = "route53"
	}
	setting := func(key string, it creds.Item, def string) (string, error) {
		v, err := cfg.Setting(key, it, def)
		return v.Value, err
	}
	p := &Provider{name: name, client: cfg.Client(), log: cfg.Log(), ua: cfg.UserAgent}
	region, err := setting("region", itemRegion, "")
	if err != nil {
		return nil, err
	}
	chain, err := newChain(cfg, name, region)
	if err != nil {
		return nil, err
	}
	if region == "" {
		region = chain.region // the profile's
	}
	part := partitionOf(region)
	p.region = part.region
	p.creds = aws.NewCredentialsCache(chain)
	p.from = chain.from
	base, err := setting("endpoint", itemEndpoint, part.endpoint)
	if err != nil {
		return nil, err
	}
	if p.base, err = providers.Endpoint(name, base, false); err != nil {
		return nil, err
	}
	cfg.Name = name
	if p.private, err = cfg.Bool("private-zone", itemPrivate, false); err != nil {
		return nil, err
	}
	if p.wait, err = cfg.Bool("wait-insync", itemWait, true); err != nil {
		return nil, err
	}
	if p.ttl, err = cfg.Seconds("ttl", itemTTL, defaultTTL); err != nil {
		return nil, err
	}
	zoneID, err := setting("hosted-zone-id", itemZoneID, "")
	if err != nil {
		return nil, err
	}
	zone, err := setting("zone", creds.Item{}, "")
	if err != nil {
		return nil, err
	}
	p.finder = providers.ZoneFinder{Provider: name, Fixed: zone, Lookup: p.lookupZone}
	p.SetAPI = providers.SetAPI{Zones: &p.finder, Change: p.change}
	if zoneID != "" {
		id := strings.TrimPrefix(zoneID, "/hostedzone/")
		p.finder.Lookup = func(ctx context.Context, name string) (providers.Zone, bool, error) {
			return p.zoneByID(ctx, id, name)
		}
	}
	return p, nil
}

type hostedZone struct {
	ID     string `xml:"Id"`
	Name   string `xml:"Name"`
	Config struct {
		PrivateZone bool `xml:"PrivateZone"`
	} `xml:"Config"`
}

// lookupZone lists hosted zones by name from name on and takes the one
// named name (public unless private-zone).
func (p *Provider) lookupZone(ctx context.Context, name string) (providers.Zone, bool, error) {
	q := url.Values{"dnsname": {name + "."}, "maxitems": {"10"}}
	var found providers.Zone
	for page := 0; page < maxPages; page++ {
		var res struct {
			HostedZones      []hostedZone `xml:"HostedZones>HostedZone"`
			IsTruncated      bool         `xml:"IsTruncated"`
			NextDNSName      string       `xml:"NextDNSName"`
			NextHostedZoneID string       `xml:"NextHostedZoneId"`
		}
		if err := p.do(ctx, http.MethodGet, "/"+APIVersion+"/hostedzonesbyname?"+q.Encode(), nil, &res); err != nil {
			return providers.Zone{}, false, err
		}
		past := false
		for _, z := range res.HostedZones {
			zn := providers.Unfqdn(z.Name)
			if zn != name {
				past = true // sorted by name: no more zones of this name
				continue
			}
			if z.Config.PrivateZone != p.private {
				continue
			}
			found = providers.Zone{Name: name, ID: strings.TrimPrefix(z.ID, "/hostedzone/")}
		}
		if found.ID != "" || past || !res.IsTruncated {
			break
		}
		q.Set("dnsname", res.NextDNSName)
		q.Set("hostedzoneid", res.NextHostedZoneID)
	}
	return found, found.ID != "", nil
}

// zoneByID reads the configured hosted zone; it holds name when their
// names are equal.
func (p *Provider) zoneByID(ctx context.Context, id, name string) (providers.Zone, bool, error) {
	var res struct {
		HostedZone hostedZone `xml:"HostedZone"`
	}
	if err := p.do(ctx, http.MethodGet, "/"+APIVersion+"/hostedzone/"+url.PathEscape(id), nil, &res); err != nil {
		return providers.Zone{}, false, err
	}
	if providers.Unfqdn(res.HostedZone.Name) != name {
		return providers.Zone{}, false, nil
	}
	return providers.Zone{Name: name, ID: id}, true, nil
}

type resourceRecordSet struct {
	Name    string   `xml:"Name"`
	Type    string   `xml:"Type"`
	TTL     int      `xml:"TTL"`
	Records []record `xml:"ResourceRecords>ResourceRecord"`
}

type record struct {
	Value string `xml:"Value"`
}

type changeInfo struct {
	ID     string `xml:"Id"`
	Status string `xml:"Status"`
}

// change adds (add) or removes value in the TXT set at fqdn of hosted zone
// z (a read, one change batch, then polls until the change is INSYNC);
// providers.SetAPI holds the name's lock.
func (p *Provider) change(ctx context.Context, z providers.Zone, fqdn, value string, add bool) error {
	op := "delete"
	if add {
		op = "add"
	}
	name := providers.Unfqdn(fqdn) + "."
	zpath := "/" + APIVersion + "/hostedzone/" + url.PathEscape(z.ID)
	for attempt := 1; ; attempt++ {
		var res struct {
			Sets []resourceRecordSet `xml:"ResourceRecordSets>ResourceRecordSet"`
		}
		q := url.Values{"name": {name}, "type": {"TXT"}, "maxitems": {"1"}}
		if err := p.do(ctx, http.MethodGet, zpath+"/rrset?"+q.Encode(), nil, &res); err != nil {
			return fmt.Errorf("%s: %s TXT %s: read the record set: %w", p.name, op, fqdn, trim(err, p.name))
		}
		var old *resourceRecordSet
		for i := range res.Sets {
			if strings.EqualFold(unescapeName(res.Sets[i].Name), name) && res.Sets[i].Type == "TXT" {
				old = &res.Sets[i]
			}
		}
		var values []string
		if old != nil {
			for _, r := range old.Records {
				values = append(values, providers.TXTUnquote(r.Value))
			}
		}
		if slices.Contains(values, value) == add {
			return nil
		}
		if add {
			values = append(values, value)
		} else {
			values = slices.DeleteFunc(values, func(v string) bool { return v == value })
		}
		var changes []change
		ttl := p.ttl
		if old != nil {
			changes = append(changes, change{Action: "DELETE", Set: *old})
			ttl = old.TTL
		}
		if len(values) > 0 {
			set := resourceRecordSet{Name: name, Type: "TXT", TTL: ttl}
			for _, v := range values {
				set.Records = append(set.Records, record{providers.TXTQuote(v)})
			}
			changes = append(changes, change{Action: "CREATE", Set: set})
		}
		body, err := xml.Marshal(changeRequest{Xmlns: xmlns, Comment: "acmectl dns-01", Changes: changes})
		if err != nil {
			return fmt.Errorf("%s: encode change: %w", p.name, err)
		}
		var out struct {
			ChangeInfo changeInfo `xml:"ChangeInfo"`
		}
		err = p.do(ctx, http.MethodPost, zpath+"/rrset/", append([]byte(xml.Header), body...), &out)
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == "InvalidChangeBatch" && attempt < maxAttempts {
			p.log.Debug("record set changed meanwhile; reading it again", "name", fqdn, "attempt", attempt)
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %s TXT %s in zone %s: %w", p.name, op, fqdn, z.Name, trim(err, p.name))
		}
		if !p.wait {
			return nil
		}
		return p.waitInsync(ctx, out.ChangeInfo)
	}
}

type change struct {
	Action string            `xml:"Action"`
	Set    resourceRecordSet `xml:"ResourceRecordSet"`
}

type changeRequest struct {
	XMLName xml.Name `xml:"ChangeResourceRecordSetsRequest"`
	Xmlns   string   `xml:"xmlns,attr"`
	Comment string   `xml:"ChangeBatch>Comment"`
	Changes []change `xml:"ChangeBatch>Changes>Change"`
}

// waitInsync polls GetChange until INSYNC, from 250 ms doubling to 5 s,
// for at most five minutes.
func (p *Provider) waitInsync(ctx context.Context, ci changeInfo) error {
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	d := 250 * time.Millisecond
	for ci.Status != "INSYNC" {
		id := strings.TrimPrefix(ci.ID, "/change/")
		if id == "" {
			return fmt.Errorf("%s: change answer without an Id", p.name)
		}
		if err := providers.Sleep(ctx, d); err != nil {
			return fmt.Errorf("%s: change %s still %s: %w", p.name, providers.Quote(id, 40), providers.Quote(ci.Status, 20), err)
		}
		d = min(2*d, 5*time.Second)
		var out struct {
			ChangeInfo changeInfo `xml:"ChangeInfo"`
		}
		if err := p.do(ctx, http.MethodGet, "/"+APIVersion+"/change/"+url.PathEscape(id), nil, &out); err != nil {
			return fmt.Errorf("%s: change %s: %w", p.name, providers.Quote(id, 40), trim(err, p.name))
		}
		ci = out.ChangeInfo
	}
	return nil
}

// unescapeName undoes Route 53's octal escapes in names (\052 for *).
func unescapeName(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// APIError is an error answer of Route 53.
type APIError struct {
	Provider string
	Method   string
	Path     string
	Status   int
	Code     string // "InvalidChangeBatch", "Throttling", ...
	Message  string
	From     string // where the credentials came from (for 403)
}

func (e *APIError) Error() string {
	msg := e.Code
	if e.Message != "" {
		msg += ": " + e.Message
	}
	path, _, _ := strings.Cut(e.Path, "?")
	if e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized {
		return fmt.Sprintf("%s: the credentials from %s were refused (HTTP %d on %s %s: %s)", e.Provider, e.From, e.Status, e.Method, path, msg)
	}
	return fmt.Sprintf("%s: %s %s: HTTP %d: %s", e.Provider, e.Method, path, e.Status, msg)
}

func trim(err error, name string) error {
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusForbidden || ae.Status == http.StatusUnauthorized) {
		return err
	}
	return errors.New(strings.TrimPrefix(err.Error(), name+": "))
}

// retryable: Route 53's throttling answers (400 Throttling,
// PriorRequestNotComplete) and 5xx.
func retryable(status int, code string) bool {
	return status == http.StatusTooManyRequests || status >= 500 || code == "Throttling" || code == "ThrottlingException" || code == "PriorRequestNotComplete"
}

// do sends a signed request and decodes the XML answer into out. Throttled
// requests are retried with backoff (Retry-After when present).
func (p *Provider) do(ctx context.Context, method, path string, body []byte, out any) error {
	wait := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		status, data, hdr, err := p.send(ctx, method, path, body)
		if err != nil {
			return err
		}
		if status >= 200 && status < 300 {
			if out == nil {
				return nil
			}
			if err := xml.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s: %s %s: malformed answer: %w", p.name, method, path, err)
			}
			return nil
		}
		ae := p.apiError(method, path, status, data)
		if retryable(status, ae.Code) && attempt < maxRetries {
			d := wait
			if s, err := strconv.Atoi(hdr.Get("Retry-After")); err == nil && s >= 0 && s <= 60 {
				d = time.Duration(s) * time.Second
			}
			wait *= 2
			p.log.Info("route 53 asks to slow down", "code", ae.Code, "wait", d)
			if err := providers.Sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		return ae
	}
}

func (p *Provider) send(ctx context.Context, method, path string, body []byte) (int, []byte, http.Header, error) {
	c, err := p.creds.Retrieve(ctx)
	if err != nil {
		var re *refusedError
		if errors.As(err, &re) {
			return 0, nil, nil, re
		}
		msg := strings.TrimPrefix(err.Error(), "failed to refresh cached credentials, ")
		if !strings.HasPrefix(msg, p.name+": ") {
			msg = p.name + ": credentials: " + msg
		}
		return 0, nil, nil, errors.New(msg)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base.String()+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %s %s: %w", p.name, method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	if p.ua != "" {
		req.Header.Set("User-Agent", p.ua)
	}
	if err := signRequest(ctx, req, body, c, "route53", p.region); err != nil {
		return 0, nil, nil, fmt.Errorf("%s: sign %s %s: %w", p.name, method, path, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %s %s: %w", p.name, method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s: %s %s: read answer: %w", p.name, method, path, err)
	}
	if len(data) > maxBody {
		return 0, nil, nil, fmt.Errorf("%s: %s %s: answer larger than %d bytes", p.name, method, path, maxBody)
	}
	p.log.Debug("dns provider api", "method", method, "path", path, "status", resp.StatusCode)
	return resp.StatusCode, data, resp.Header, nil
}

// apiError reads <ErrorResponse><Error><Code>...</Code><Message> or
// <InvalidChangeBatch><Messages><Message>.
func (p *Provider) apiError(method, path string, status int, data []byte) *APIError {
	ae := &APIError{Provider: p.name, Method: method, Path: path, Status: status, From: p.from}
	var er struct {
		XMLName  xml.Name
		Code     string   `xml:"Error>Code"`
		Message  string   `xml:"Error>Message"`
		Messages []string `xml:"Messages>Message"`
	}
	if xml.Unmarshal(data, &er) == nil {
		ae.Code, ae.Message = er.Code, er.Message
		if er.XMLName.Local == "InvalidChangeBatch" {
			ae.Code, ae.Message = "InvalidChangeBatch", strings.Join(er.Messages, "; ")
		}
	}
	if ae.Code == "" {
		ae.Code = http.StatusText(status)
	}
	ae.Code = providers.Sanitize(ae.Code, 60)
	ae.Message = providers.Sanitize(ae.Message, 200)
	return ae
}

// signRequest signs req (whose body is body) with Signature Version 4.
func signRequest(ctx context.Context, req *http.Request, body []byte, c aws.Credentials, service, region string) error {
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(ctx, c, req, hex.EncodeToString(sum[:]), service, region, time.Now().UTC())
}
