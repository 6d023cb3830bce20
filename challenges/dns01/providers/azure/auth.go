package azure

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/acmectl/acmectl/challenges/dns01/creds"
	"github.com/acmectl/acmectl/challenges/dns01/providers"
)

// Credential items (lego's names; certbot-dns-azure's INI keys).
var (
	itemClientID   = creds.Item{What: "client ID", Env: []string{"ACMECTL_AZURE_CLIENT_ID", "AZURE_CLIENT_ID"}, INI: []string{"dns_azure_sp_client_id"}}
	itemTenant     = creds.Item{What: "tenant ID", Env: []string{"ACMECTL_AZURE_TENANT_ID", "AZURE_TENANT_ID"}, INI: []string{"dns_azure_tenant_id"}}
	itemSecret     = creds.Item{What: "client secret", Env: []string{"ACMECTL_AZURE_CLIENT_SECRET", "AZURE_CLIENT_SECRET"}, Credential: "azure-client-secret", INI: []string{"dns_azure_sp_client_secret"}}
	itemCert       = creds.Item{What: "client certificate file", Env: []string{"ACMECTL_AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PATH"}}
	itemFederated  = creds.Item{What: "federated token file", Env: []string{"AZURE_FEDERATED_TOKEN_FILE"}}
	itemAuthority  = creds.Item{What: "authority host", Env: []string{"AZURE_AUTHORITY_HOST"}}
	itemAuthMethod = creds.Item{What: "authentication method", Env: []string{"ACMECTL_AZURE_AUTH_METHOD", "AZURE_AUTH_METHOD"}}
	itemIdentityEP = creds.Item{What: "managed identity endpoint", Env: []string{"IDENTITY_ENDPOINT"}}
	itemIdentityHd = creds.Item{What: "managed identity header", Env: []string{"IDENTITY_HEADER"}}
)

// imdsToken is the instance metadata service's token endpoint.
const imdsToken = "http://169.254.169.254/metadata/identity/oauth2/token"

// Authentication methods (lego's AZURE_AUTH_METHOD values).
const (
	methodSecret    = "env" // client secret or certificate
	methodWorkload  = "wli"
	methodManaged   = "msi"
	methodCLI       = "cli"
	methodAutomatic = ""
)

// authenticator gets ARM access tokens by one method, chosen in New in
// the order of DefaultAzureCredential, and caches them until five minutes
// before they expire.
type authenticator struct {
	provider string
	method   string
	client   *http.Client
	resource string // "https://management.azure.com" (audience)
	login    string // authority host URL
	tenant   string
	clientID creds.Value
	secret   creds.Value
	certFile string
	tokFile  string
	idEP     string // App Service identity endpoint
	idHeader string
	environ  []string
	getenv   func(string) string
	now      func() time.Time

	mu      sync.Mutex
	tok     string
	expires time.Time
}

func newAuthenticator(cfg providers.Config, name string, cl cloud) (*authenticator, error) {
	a := &authenticator{provider: name, client: cfg.Client(), resource: cl.arm, login: cl.login, environ: cfg.Environ, now: time.Now}
	if cfg.Creds != nil {
		a.getenv = cfg.Creds.Getenv
	}
	opt := func(key string, it creds.Item) (creds.Value, error) { return cfg.Setting(key, it, "") }
	method, err := opt("auth-method", itemAuthMethod)
	if err != nil {
		return nil, err
	}
	a.method = strings.ToLower(method.Value)
	if a.clientID, err = opt("client-id", itemClientID); err != nil {
		return nil, err
	}
	tenant, err := opt("tenant-id", itemTenant)
	if err != nil {
		return nil, err
	}
	a.tenant = tenant.Value
	if host, err := opt("", itemAuthority); err != nil {
		return nil, err
	} else if host.Value != "" {
		if !strings.Contains(host.Value, "://") {
			host.Value = "https://" + host.Value
		}
		u, err := providers.Endpoint(name, host.Value, false)
		if err != nil {
			return nil, fmt.Errorf("%s: AZURE_AUTHORITY_HOST: %w", name, err)
		}
		a.login = u.String()
	}
	if cfg.Creds != nil {
		if a.secret, err = cfg.Creds.Optional(itemSecret); err != nil {
			return nil, err
		}
	}
	cert, err := opt("", itemCert)
	if err != nil {
		return nil, err
	}
	a.certFile = cert.Value
	tf, err := opt("", itemFederated)
	if err != nil {
		return nil, err
	}
	a.tokFile = tf.Value
	ep, err := opt("", itemIdentityEP)
	if err != nil {
		return nil, err
	}
	hd, err := opt("", itemIdentityHd)
	if err != nil {
		return nil, err
	}
	if ep.Value != "" && hd.Value != "" {
		u, err := providers.Endpoint(name, ep.Value, false)
		if err != nil {
			return nil, fmt.Errorf("%s: IDENTITY_ENDPOINT: %w", name, err)
		}
		a.idEP, a.idHeader = u.String(), hd.Value
	}
	if a.method == methodAutomatic {
		switch {
		case a.secret.Value != "" || a.certFile != "":
			a.method = methodSecret
		case a.tokFile != "":
			a.method = methodWorkload
		}
	}
	need := func(what string, v string, it creds.Item) error {
		if v == "" {
			return fmt.Errorf("%s: %s needs the %s: set %s", name, what, it.What, strings.Join(it.Env, " or "))
		}
		return nil
	}
	switch a.method {
	case methodSecret:
		if a.secret.Value == "" && a.certFile == "" {
			return nil, fmt.Errorf("%s: no client secret or certificate: set AZURE_CLIENT_SECRET (or AZURE_CLIENT_SECRET_FILE, a systemd credential azure-client-secret) or AZURE_CLIENT_CERTIFICATE_PATH", name)
		}
		if err := need("a service principal", a.clientID.Value, itemClientID); err != nil {
			return nil, err
		}
		if err := need("a service principal", a.tenant, itemTenant); err != nil {
			return nil, err
		}
	case methodWorkload:
		if err := need("workload identity", a.tokFile, itemFederated); err != nil {
			return nil, err
		}
		if err := need("workload identity", a.clientID.Value, itemClientID); err != nil {
			return nil, err
		}
		if err := need("workload identity", a.tenant, itemTenant); err != nil {
			return nil, err
		}
	case methodManaged, methodCLI, methodAutomatic:
	default:
		return nil, fmt.Errorf("%s: auth-method %q: want env, wli, msi or cli", name, providers.Sanitize(a.method, 20))
	}
	return a, nil
}

// from names the credentials for the bad-credentials message.
func (a *authenticator) from() string {
	switch a.method {
	case methodSecret:
		if a.secret.Value != "" {
			return a.secret.From + " (client " + a.clientID.Value + ")"
		}
		return "AZURE_CLIENT_CERTIFICATE_PATH (" + a.certFile + ")"
	case methodWorkload:
		return "AZURE_FEDERATED_TOKEN_FILE (" + a.tokFile + ")"
	case methodManaged:
		return "the managed identity"
	case methodCLI:
		return "the Azure CLI login"
	}
	return "the managed identity or Azure CLI login"
}

// token returns a current access token for ARM.
func (a *authenticator) token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != "" && a.now().Add(5*time.Minute).Before(a.expires) {
		return a.tok, nil
	}
	var tok string
	var exp time.Time
	var err error
	switch a.method {
	case methodSecret:
		if a.secret.Value != "" {
			tok, exp, err = a.clientCredentials(ctx, url.Values{"client_secret": {a.secret.Value}}, a.from())
		} else {
			var assertion string
			if assertion, err = a.certAssertion(); err == nil {
				tok, exp, err = a.clientCredentials(ctx, assertionForm(assertion), a.from())
			}
		}
	case methodWorkload:
		var b []byte
		if b, err = os.ReadFile(a.tokFile); err != nil {
			return "", fmt.Errorf("%s: workload identity: read AZURE_FEDERATED_TOKEN_FILE: %w", a.provider, err)
		}
		tok, exp, err = a.clientCredentials(ctx, assertionForm(strings.TrimSpace(string(b))), a.from())
	case methodManaged:
		tok, exp, err = a.managedIdentity(ctx, false)
	case methodCLI:
		tok, exp, err = a.cli(ctx)
	default:
		// No service principal or workload identity configured: managed
		// identity when the machine has one, else the CLI's login.
		var miErr error
		tok, exp, miErr = a.managedIdentity(ctx, true)
		if miErr != nil {
			var cliErr error
			if tok, exp, cliErr = a.cli(ctx); cliErr != nil {
				err = fmt.Errorf("%s: no credentials: set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, or AZURE_FEDERATED_TOKEN_FILE), or run on Azure with a managed identity, or log in with az login (managed identity: %v; Azure CLI: %v)",
					a.provider, trimProvider(miErr, a.provider), trimProvider(cliErr, a.provider))
			}
		}
	}
	if err != nil {
		return "", err
	}
	a.tok, a.expires = tok, exp
	return tok, nil
}

func trimProvider(err error, name string) string {
	return strings.TrimPrefix(err.Error(), name+": ")
}

func assertionForm(assertion string) url.Values {
	return url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
}

func (a *authenticator) tokenURL() string {
	return a.login + "/" + url.PathEscape(a.tenant) + "/oauth2/v2.0/token"
}

// clientCredentials runs the OAuth 2.0 client credentials grant at
// Microsoft Entra ID with form's secret or assertion.
func (a *authenticator) clientCredentials(ctx context.Context, form url.Values, from string) (string, time.Time, error) {
	form.Set("grant_type", "client_credentials")
	form.Set("client_id", a.clientID.Value)
	form.Set("scope", a.resource+"/.default")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: token request: %w", a.provider, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return a.tokenResponse(req, "Microsoft Entra ID", from)
}

// tokenResponse sends req and reads an OAuth 2.0 token answer (Entra ID
// and the managed identity endpoints share its shape).
func (a *authenticator) tokenResponse(req *http.Request, who, from string) (string, time.Time, error) {
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: token from %s: %w", a.provider, who, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: token from %s: %w", a.provider, who, err)
	}
	var r struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
		Error       string          `json:"error"`
		Description string          `json:"error_description"`
	}
	_ = json.Unmarshal(body, &r)
	if resp.StatusCode != http.StatusOK || r.AccessToken == "" {
		msg := r.Error
		if d := firstLine(r.Description); d != "" {
			msg += ": " + d
		}
		if msg == "" {
			msg = firstLine(string(body))
		}
		return "", time.Time{}, fmt.Errorf("%s: the credentials from %s were refused by %s (HTTP %d: %s)",
			a.provider, from, who, resp.StatusCode, providers.Sanitize(msg, 200))
	}
	now := a.now()
	exp := now.Add(time.Hour)
	if n, ok := number(r.ExpiresIn); ok {
		exp = now.Add(time.Duration(n) * time.Second)
	} else if n, ok := number(r.ExpiresOn); ok {
		exp = time.Unix(n, 0)
	}
	return r.AccessToken, exp, nil
}

// number reads a JSON number or a string holding one (the managed
// identity endpoints send strings).
func number(raw json.RawMessage) (int64, bool) {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// certAssertion signs the client assertion JWT (RFC 7523) with the key of
// the PEM file at AZURE_CLIENT_CERTIFICATE_PATH, which holds the private
// key and the certificate registered with the application.
func (a *authenticator) certAssertion() (string, error) {
	b, err := os.ReadFile(a.certFile)
	if err != nil {
		return "", fmt.Errorf("%s: AZURE_CLIENT_CERTIFICATE_PATH: %w", a.provider, err)
	}
	var key crypto.Signer
	var cert *x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "CERTIFICATE":
			if cert == nil {
				cert, err = x509.ParseCertificate(blk.Bytes)
			}
		case "PRIVATE KEY":
			var k any
			if k, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
				key, _ = k.(*rsa.PrivateKey)
			}
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		}
		if err != nil {
			return "", fmt.Errorf("%s: AZURE_CLIENT_CERTIFICATE_PATH %s: %w", a.provider, a.certFile, err)
		}
	}
	if key == nil || cert == nil {
		return "", fmt.Errorf("%s: AZURE_CLIENT_CERTIFICATE_PATH %s: want a PEM file with an RSA private key and its certificate", a.provider, a.certFile)
	}
	thumb := sha1.Sum(cert.Raw) // x5t is the SHA-1 thumbprint (RFC 7515 §4.1.7)
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t", base64.RawURLEncoding.EncodeToString(thumb[:]))
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("%s: client assertion: %w", a.provider, err)
	}
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := a.now()
	claims := jwt.Claims{Issuer: a.clientID.Value, Subject: a.clientID.Value, Audience: jwt.Audience{a.tokenURL()},
		ID: hex.EncodeToString(jti), NotBefore: jwt.NewNumericDate(now), IssuedAt: jwt.NewNumericDate(now),
		Expiry: jwt.NewNumericDate(now.Add(10 * time.Minute))}
	s, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("%s: client assertion: %w", a.provider, err)
	}
	return s, nil
}

// managedIdentity asks App Service's identity endpoint (IDENTITY_ENDPOINT
// with IDENTITY_HEADER) or else the instance metadata service. probe
// bounds the metadata service's wait to one second, as the SDK does when
// it merely tries managed identity.
func (a *authenticator) managedIdentity(ctx context.Context, probe bool) (string, time.Time, error) {
	q := url.Values{"resource": {a.resource}}
	if a.clientID.Value != "" {
		q.Set("client_id", a.clientID.Value) // a user-assigned identity
	}
	var req *http.Request
	var err error
	if a.idEP != "" {
		q.Set("api-version", "2019-08-01")
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, a.idEP+"?"+q.Encode(), nil)
		if err == nil {
			req.Header.Set("X-IDENTITY-HEADER", a.idHeader)
		}
	} else {
		if probe {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Second)
			defer cancel()
		}
		q.Set("api-version", "2018-02-01")
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, imdsToken+"?"+q.Encode(), nil)
		if err == nil {
			req.Header.Set("Metadata", "true")
		}
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: managed identity: %w", a.provider, err)
	}
	return a.tokenResponse(req, "the managed identity endpoint", "the managed identity")
}

// cli runs `az account get-access-token` (no shell; az from PATH).
func (a *authenticator) cli(ctx context.Context) (string, time.Time, error) {
	path := ""
	if a.getenv != nil {
		path = a.getenv("PATH")
	}
	az := ""
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, "az")); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			az = filepath.Join(dir, "az")
			break
		}
	}
	if az == "" {
		return "", time.Time{}, fmt.Errorf("%s: az is not on PATH", a.provider)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := []string{"account", "get-access-token", "--output", "json", "--resource", a.resource}
	if a.tenant != "" {
		args = append(args, "--tenant", a.tenant)
	}
	cmd := exec.CommandContext(ctx, az, args...)
	cmd.Env = a.environ
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%s: az account get-access-token: %v: %s", a.provider, err, providers.Sanitize(firstLine(stderr.String()), 200))
	}
	var r struct {
		AccessToken string `json:"accessToken"`
		ExpiresOn   int64  `json:"expires_on"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("%s: az account get-access-token: malformed answer", a.provider)
	}
	exp := a.now().Add(5*time.Minute + time.Second) // old az without expires_on: use once
	if r.ExpiresOn > 0 {
		exp = time.Unix(r.ExpiresOn, 0)
	}
	return r.AccessToken, exp, nil
}
