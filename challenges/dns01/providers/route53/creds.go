package route53

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

// Items of the static credentials (acmectl's names, then the AWS/lego
// ones; certbot-dns-route53 reads the AWS ones too).
var (
	itemKeyID  = creds.Item{What: "access key ID", Env: []string{"ACMECTL_ROUTE53_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"}, Credential: "route53-access-key-id"}
	itemSecret = creds.Item{What: "secret access key", Env: []string{"ACMECTL_ROUTE53_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"}, Credential: "route53-secret-access-key"}
	itemToken  = creds.Item{What: "session token", Env: []string{"ACMECTL_ROUTE53_SESSION_TOKEN", "AWS_SESSION_TOKEN"}, Credential: "route53-session-token"}
)

// chain is the credential source chosen in New, in the order of the AWS
// SDK's default chain:
//
//  1. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN;
//     _FILE variants, systemd credentials);
//  2. the profile AWS_PROFILE (else "default") of the shared files
//     (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE; ~/.aws/credentials,
//     ~/.aws/config): static keys, role_arn with source_profile,
//     web_identity_token_file or credential_source;
//  3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (EKS
//     IRSA, GitHub Actions OIDC);
//  4. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
//     _FULL_URI (ECS task roles, EKS Pod Identity);
//  5. the EC2 instance role through IMDSv2.
//
// AWS_ASSUME_ROLE_ARN (lego's; with AWS_EXTERNAL_ID) then assumes a role
// with what was found.
type chain struct {
	provider string
	from     string // for messages
	region   string // the profile's region, if any
	base     aws.CredentialsProvider
}

func (c *chain) Retrieve(ctx context.Context) (aws.Credentials, error) {
	v, err := c.base.Retrieve(ctx)
	if err != nil {
		var re *refusedError
		if errors.As(err, &re) {
			return aws.Credentials{}, err
		}
		return aws.Credentials{}, fmt.Errorf("%s: credentials from %s: %v", c.provider, c.from, err)
	}
	return v, nil
}

// refusedError is an STS refusal, already one line naming the source.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func newChain(cfg providers.Config, name, region string) (*chain, error) {
	getenv := func(string) string { return "" }
	if cfg.Creds != nil && cfg.Creds.Getenv != nil {
		getenv = cfg.Creds.Getenv
	}
	c := &chain{provider: name}
	if cfg.Creds == nil {
		cfg.Creds = &creds.Source{Provider: name}
	}
	sts := &stsClient{provider: name, client: cfg.Client(), region: region}
	if ep := getenv("AWS_ENDPOINT_URL_STS"); ep != "" {
		u, err := providers.Endpoint(name, ep, false)
		if err != nil {
			return nil, fmt.Errorf("%s: AWS_ENDPOINT_URL_STS: %w", name, err)
		}
		sts.endpoint = u.String()
	}
	var base aws.CredentialsProvider
	// 1. Static keys.
	id, err := cfg.Creds.Optional(itemKeyID)
	if err != nil {
		return nil, err
	}
	if id.Value != "" {
		secret, err := cfg.Secret(itemSecret)
		if err != nil {
			return nil, err
		}
		tok, err := cfg.Creds.Optional(itemToken)
		if err != nil {
			return nil, err
		}
		base = static(id.Value, secret.Value, tok.Value)
		c.from = secret.From + " (key " + id.Value + ")"
	}
	// 2. The shared files' profile.
	if base == nil {
		prof, err := loadProfile(getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if prof != nil {
			c.region = prof.get("region")
			if sts.region == "" {
				sts.region = c.region
			}
			if base, c.from, err = prof.provider(sts, getenv, cfg, 0); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	// 3. Web identity.
	if base == nil && getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
		if getenv("AWS_ROLE_ARN") == "" {
			return nil, fmt.Errorf("%s: AWS_WEB_IDENTITY_TOKEN_FILE needs AWS_ROLE_ARN", name)
		}
		c.from = "AWS_WEB_IDENTITY_TOKEN_FILE (role " + getenv("AWS_ROLE_ARN") + ")"
		base = &webIdentity{sts: sts, file: getenv("AWS_WEB_IDENTITY_TOKEN_FILE"), role: getenv("AWS_ROLE_ARN"), session: getenv("AWS_ROLE_SESSION_NAME"), from: c.from}
	}
	// 4. Container credentials.
	if base == nil {
		if base, c.from, err = container(getenv, cfg.Client()); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	// 5. The instance role.
	if base == nil {
		if strings.EqualFold(getenv("AWS_EC2_METADATA_DISABLED"), "true") {
			return nil, fmt.Errorf("%s: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or _FILE), or AWS_PROFILE with ~/.aws/credentials, or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN (the instance role is off: AWS_EC2_METADATA_DISABLED)", name)
		}
		base, c.from = instanceRole(getenv, cfg.Client()), "the EC2 instance role (IMDSv2)"
	}
	if role := getenv("AWS_ASSUME_ROLE_ARN"); role != "" {
		c.from += " assuming " + role
		base = &assumeRole{sts: sts, source: aws.NewCredentialsCache(base), role: role, external: getenv("AWS_EXTERNAL_ID"), from: c.from}
	}
	c.base = base
	return c, nil
}

func static(id, secret, token string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Source: "acmectl"}, nil
	})
}

func instanceRole(getenv func(string) string, client *http.Client) aws.CredentialsProvider {
	opts := imds.Options{HTTPClient: client}
	if ep := getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"); ep != "" {
		opts.Endpoint = ep
	}
	return ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = imds.New(opts) })
}

// container returns the ECS/EKS container credentials provider when its
// variables are set. A full URI must be https or an address the AWS SDKs
// allow for plain http (loopback, the ECS and EKS agents).
func container(getenv func(string) string, client *http.Client) (aws.CredentialsProvider, string, error) {
	uri := ""
	switch {
	case getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != "":
		uri = "http://169.254.170.2" + getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
	case getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI") != "":
		uri = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
		u, err := url.Parse(uri)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, "", errors.New("AWS_CONTAINER_CREDENTIALS_FULL_URI: want an http(s) URL")
		}
		if u.Scheme == "http" {
			ip := net.ParseIP(u.Hostname())
			if !providers.IsLoopback(u.Hostname()) && (ip == nil || !(ip.Equal(net.ParseIP("169.254.170.2")) || ip.Equal(net.ParseIP("169.254.170.23")) || ip.Equal(net.ParseIP("fd00:ec2::23")))) {
				return nil, "", errors.New("AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http only to loopback or the ECS/EKS agent addresses")
			}
		}
	default:
		return nil, "", nil
	}
	tok, tokFile := getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"), getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
	p := endpointcreds.New(uri, func(o *endpointcreds.Options) {
		o.HTTPClient = client
		switch {
		case tokFile != "":
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := os.ReadFile(tokFile)
				return strings.TrimSpace(string(b)), err
			})
		case tok != "":
			o.AuthorizationToken = tok
		}
	})
	return p, "the container credentials endpoint", nil
}

// profile is one section of the shared config and credentials files.
type profile struct {
	name string
	keys map[string]string
	all  func(name string) (*profile, error) // another profile (source_profile)
}

func (p *profile) get(k string) string { return p.keys[k] }

// loadProfile reads AWS_PROFILE (else default) from the shared files; nil
// when no file has it and AWS_PROFILE is not set.
func loadProfile(getenv func(string) string) (*profile, error) {
	home := getenv("HOME")
	credFile, confFile := getenv("AWS_SHARED_CREDENTIALS_FILE"), getenv("AWS_CONFIG_FILE")
	if credFile == "" && home != "" {
		credFile = filepath.Join(home, ".aws", "credentials")
	}
	if confFile == "" && home != "" {
		confFile = filepath.Join(home, ".aws", "config")
	}
	sections := map[string]map[string]string{}
	for _, f := range []struct {
		path   string
		config bool
	}{{confFile, true}, {credFile, false}} {
		if f.path == "" {
			continue
		}
		b, err := os.ReadFile(f.path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		parseShared(string(b), f.config, sections)
	}
	name := getenv("AWS_PROFILE")
	explicit := name != ""
	if name == "" {
		name = "default"
	}
	var get func(string) (*profile, error)
	get = func(n string) (*profile, error) {
		keys, ok := sections[n]
		if !ok {
			return nil, fmt.Errorf("profile %q is not in %s or %s", n, credFile, confFile)
		}
		return &profile{name: n, keys: keys, all: get}, nil
	}
	p, err := get(name)
	if err != nil && !explicit {
		return nil, nil
	}
	return p, err
}

// parseShared adds the sections of an AWS shared file ("[name]" in the
// credentials file, "[profile name]" or "[default]" in the config file).
func parseShared(text string, config bool, out map[string]map[string]string) {
	cur := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' && strings.HasSuffix(line, "]") {
			cur = strings.TrimSpace(line[1 : len(line)-1])
			if config && cur != "default" {
				if n, ok := strings.CutPrefix(cur, "profile "); ok {
					cur = strings.TrimSpace(n)
				} else {
					cur = "" // sso-session and other sections
				}
			}
			if cur != "" && out[cur] == nil {
				out[cur] = map[string]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || cur == "" {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, set := out[cur][k]; !set || !config {
			out[cur][k] = strings.TrimSpace(v) // the credentials file wins
		}
	}
}

// provider turns a profile into a credentials provider.
func (p *profile) provider(sts *stsClient, getenv func(string) string, cfg providers.Config, depth int) (aws.CredentialsProvider, string, error) {
	if depth > 4 {
		return nil, "", fmt.Errorf("profile %q: source_profile chain too long", p.name)
	}
	from := "profile " + p.name
	if role := p.get("role_arn"); role != "" {
		var src aws.CredentialsProvider
		switch {
		case p.get("web_identity_token_file") != "":
			wi := &webIdentity{sts: sts, file: p.get("web_identity_token_file"), role: role, session: p.get("role_session_name"), from: from}
			return wi, from + " (web identity, role " + role + ")", nil
		case p.get("source_profile") != "":
			sp, err := p.all(p.get("source_profile"))
			if err != nil {
				return nil, "", err
			}
			if sp.name == p.name {
				src, _ = staticProfile(sp)
			} else if src, _, err = sp.provider(sts, getenv, cfg, depth+1); err != nil {
				return nil, "", err
			}
			if src == nil {
				return nil, "", fmt.Errorf("profile %q: source profile %q has no keys", p.name, sp.name)
			}
		case p.get("credential_source") != "":
			switch p.get("credential_source") {
			case "Ec2InstanceMetadata":
				src = instanceRole(getenv, cfg.Client())
			case "EcsContainer":
				var err error
				if src, _, err = container(getenv, cfg.Client()); err != nil || src == nil {
					return nil, "", fmt.Errorf("profile %q: credential_source EcsContainer without container credentials variables", p.name)
				}
			case "Environment":
				id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
				if id == "" || secret == "" {
					return nil, "", fmt.Errorf("profile %q: credential_source Environment without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", p.name)
				}
				src = static(id, secret, getenv("AWS_SESSION_TOKEN"))
			default:
				return nil, "", fmt.Errorf("profile %q: credential_source %q is unknown", p.name, providers.Sanitize(p.get("credential_source"), 40))
			}
		default:
			return nil, "", fmt.Errorf("profile %q: role_arn needs source_profile, credential_source or web_identity_token_file", p.name)
		}
		from += " (role " + role + ")"
		return &assumeRole{sts: sts, source: aws.NewCredentialsCache(src), role: role, external: p.get("external_id"), session: p.get("role_session_name"), from: from}, from, nil
	}
	if src, ok := staticProfile(p); ok {
		return src, from, nil
	}
	for _, k := range []string{"credential_process", "sso_session", "sso_start_url"} {
		if p.get(k) != "" {
			return nil, "", fmt.Errorf("profile %q uses %s, which acmectl does not run: export its credentials first (aws configure export-credentials --profile %s --format env)", p.name, k, p.name)
		}
	}
	return nil, "", nil // nothing usable here: go on with the chain
}

func staticProfile(p *profile) (aws.CredentialsProvider, bool) {
	id, secret := p.get("aws_access_key_id"), p.get("aws_secret_access_key")
	if id == "" || secret == "" {
		return nil, false
	}
	return static(id, secret, p.get("aws_session_token")), true
}

// stsClient calls the AWS Security Token Service's query API.
type stsClient struct {
	provider string
	client   *http.Client
	region   string
	endpoint string // test override (AWS_ENDPOINT_URL_STS)
}

func (s *stsClient) url() string {
	switch {
	case s.endpoint != "":
		return s.endpoint + "/"
	case s.region != "":
		return "https://sts." + s.region + ".amazonaws.com/"
	}
	return "https://sts.amazonaws.com/"
}

// call posts form (Action=...) and decodes <...Result><Credentials>. sign,
// when set, signs the request (AssumeRole); web identity is unsigned.
func (s *stsClient) call(ctx context.Context, form url.Values, sign func(*http.Request, []byte) error, from string) (aws.Credentials, error) {
	form.Set("Version", "2011-06-15")
	body := []byte(form.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url(), strings.NewReader(string(body)))
	if err != nil {
		return aws.Credentials{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if sign != nil {
		if err := sign(req, body); err != nil {
			return aws.Credentials{}, err
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return aws.Credentials{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return aws.Credentials{}, err
	}
	var r struct {
		Result struct {
			AccessKeyID     string    `xml:"Credentials>AccessKeyId"`
			SecretAccessKey string    `xml:"Credentials>SecretAccessKey"`
			SessionToken    string    `xml:"Credentials>SessionToken"`
			Expiration      time.Time `xml:"Credentials>Expiration"`
		} `xml:",any"`
		Code    string `xml:"Error>Code"`
		Message string `xml:"Error>Message"`
	}
	_ = xml.Unmarshal(data, &r)
	if resp.StatusCode != http.StatusOK || r.Result.AccessKeyID == "" {
		return aws.Credentials{}, &refusedError{fmt.Sprintf("%s: the credentials from %s were refused by STS %s (HTTP %d: %s: %s)",
			s.provider, from, form.Get("Action"), resp.StatusCode, providers.Sanitize(r.Code, 60), providers.Sanitize(r.Message, 200))}
	}
	return aws.Credentials{AccessKeyID: r.Result.AccessKeyID, SecretAccessKey: r.Result.SecretAccessKey, SessionToken: r.Result.SessionToken,
		CanExpire: true, Expires: r.Result.Expiration, Source: "sts"}, nil
}

// webIdentity is AssumeRoleWithWebIdentity with a token file re-read at
// each refresh (Kubernetes rotates it).
type webIdentity struct {
	sts     *stsClient
	file    string
	role    string
	session string
	from    string
}

func (w *webIdentity) Retrieve(ctx context.Context) (aws.Credentials, error) {
	b, err := os.ReadFile(w.file)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("read the web identity token: %w", err)
	}
	session := w.session
	if session == "" {
		session = "acmectl-" + fmt.Sprint(time.Now().Unix())
	}
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "RoleArn": {w.role}, "RoleSessionName": {session},
		"WebIdentityToken": {strings.TrimSpace(string(b))}}
	return w.sts.call(ctx, form, nil, w.from)
}

// assumeRole is AssumeRole signed with source's credentials.
type assumeRole struct {
	sts      *stsClient
	source   aws.CredentialsProvider
	role     string
	external string
	session  string
	from     string
}

func (a *assumeRole) Retrieve(ctx context.Context) (aws.Credentials, error) {
	src, err := a.source.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, err
	}
	session := a.session
	if session == "" {
		session = "acmectl-" + fmt.Sprint(time.Now().Unix())
	}
	form := url.Values{"Action": {"AssumeRole"}, "RoleArn": {a.role}, "RoleSessionName": {session}}
	if a.external != "" {
		form.Set("ExternalId", a.external)
	}
	region := a.sts.region
	if region == "" {
		region = "us-east-1" // the global endpoint signs for us-east-1
	}
	sign := func(req *http.Request, body []byte) error {
		return signRequest(ctx, req, body, src, "sts", region)
	}
	return a.sts.call(ctx, form, sign, a.from)
}
