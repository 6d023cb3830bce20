package lifecycle

import "github.com/acmectl/acmectl/internal/store"

// Let's Encrypt's directory URLs (the --server aliases letsencrypt and
// letsencrypt-staging).
const (
	LetsEncrypt        = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// DryRunServer is the server a dry run of an order for server goes to:
// Let's Encrypt's staging CA instead of its production CA (a trial spends
// none of production's rate limits), any other server itself.
func DryRunServer(server string) string {
	if server == LetsEncrypt {
		return LetsEncryptStaging
	}
	return server
}

// dryRunSettings returns the settings a dry run orders with: s itself, or
// a copy naming DryRunServer's server when that differs (staged true).
func dryRunSettings(s *store.Settings) (_ *store.Settings, staged bool) {
	to := DryRunServer(s.Server)
	if to == s.Server {
		return s, false
	}
	c := *s
	c.Server = to
	return &c, true
}
