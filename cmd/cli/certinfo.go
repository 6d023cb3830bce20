package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
	"github.com/acmectl/acmectl/renew"
)

// certInfo is what list, show and the metrics file report about one
// certificate, from settings.yaml and the facts cached in state.json (no
// x509 parsing, no lock, no network).
type certInfo struct {
	Name          string            `json:"cert_name"`
	Names         client.Names      `json:"names"`
	KeyType       string            `json:"key_type,omitempty"`
	Issuer        string            `json:"issuer,omitempty"`
	Serial        string            `json:"serial,omitempty"`
	NotBefore     *time.Time        `json:"not_before,omitempty"`
	NotAfter      *time.Time        `json:"not_after,omitempty"`
	Version       int               `json:"version,omitempty"`
	NextRenewal   *time.Time        `json:"next_renewal,omitempty"`
	Rule          string            `json:"rule,omitempty"`
	Reason        string            `json:"reason,omitempty"`
	ARI           *store.ARIState   `json:"ari,omitempty"`
	Server        string            `json:"server,omitempty"`
	Account       string            `json:"account,omitempty"`
	LastSuccess   *time.Time        `json:"last_success,omitempty"`
	LastError     *store.LastError  `json:"last_error,omitempty"`
	Backoff       *store.Backoff    `json:"backoff,omitempty"`
	RetryAfter    *time.Time        `json:"retry_after,omitempty"`
	DeployPending bool              `json:"deploy_pending"`
	Revoked       bool              `json:"revoked,omitempty"`
	PendingOrder  string            `json:"pending_order,omitempty"`
	Paths         map[string]string `json:"paths,omitempty"`
	// NotImported are reminders of another client's hooks that import
	// could not carry over and that no hook replaces yet.
	NotImported []string `json:"not_imported_hooks,omitempty"`
	// Problem is a settings or state file that could not be read.
	Problem string `json:"problem,omitempty"`

	state *store.State
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// loadCertInfo reads one certificate. Problems with its files are
// reported in Problem, not as an error: one bad file must not hide the
// others from list.
func loadCertInfo(st *store.Dir, name string, now time.Time) *certInfo {
	ci := &certInfo{Name: name}
	if s, err := st.LoadSettings(name); err != nil {
		ci.Problem = oneLine(err.Error())
	} else {
		ci.Names, ci.Server, ci.Account, ci.KeyType = s.Names, s.Server, s.Account, s.KeyType
		ci.NotImported = notImportedHooks(name, s)
		if ci.Account == "" {
			ci.Account = "default"
		}
	}
	state, err := st.LoadState(name)
	if err != nil {
		if ci.Problem == "" {
			ci.Problem = oneLine(err.Error())
		}
		return ci
	}
	ci.state = state
	if state.KeyType != "" {
		ci.KeyType = state.KeyType
	}
	ci.Issuer, ci.Serial, ci.Version = state.Issuer, state.Serial, state.Version
	ci.NotBefore, ci.NotAfter, ci.LastSuccess = tp(state.NotBefore), tp(state.NotAfter), tp(state.LastSuccess)
	ci.LastError, ci.Backoff, ci.RetryAfter = state.LastError, state.Backoff, tp(state.RetryAfter)
	ci.DeployPending, ci.Revoked, ci.ARI = state.DeployPending, state.Revoked, state.ARI
	if state.PendingOrder != nil {
		ci.PendingOrder = state.PendingOrder.URL
	}
	// Read-only: a point not yet drawn in an ARI window is shown as the
	// window's start; renew draws and stores the real one.
	pol := renew.Policy{Choose: func(s, _ time.Time) time.Time { return s }}
	due := pol.Due(renew.DueInputFor(state, now, false))
	ci.NextRenewal, ci.Rule, ci.Reason = tp(due.At), string(due.Rule), due.Reason
	if due.ARIChanged {
		ci.Reason += " (point not drawn yet: window start shown)"
	}
	if state.Version == 0 && state.NotAfter.IsZero() {
		ci.Reason = "no certificate yet: renew orders it"
		if p := state.PendingOrder; p != nil && !orderFailed(state) {
			ci.Reason = "order in progress: renew resumes it"
		}
	}
	return ci
}

// orderFailed reports whether the stored order's last attempt failed for
// good (the CA's verdict, after the order was created): it is not in
// progress, and the next run drops it.
func orderFailed(state *store.State) bool {
	le, p := state.LastError, state.PendingOrder
	return p != nil && le != nil && (le.Class == classValidation || le.Class == classCA) && !le.Time.Before(p.Created)
}

// loadCertInfos reads many certificates in parallel, keeping the order.
func loadCertInfos(st *store.Dir, names []string, now time.Time) []*certInfo {
	out := make([]*certInfo, len(names))
	idx := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0)*2, max(len(names), 1)) {
		wg.Go(func() {
			for i := range idx {
				out[i] = loadCertInfo(st, names[i], now)
			}
		})
	}
	for i := range names {
		idx <- i
	}
	close(idx)
	wg.Wait()
	return out
}

func fmtT(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// writeMetrics writes the Prometheus text-format file (node_exporter's
// textfile collector) for every stored certificate, atomically.
func writeMetrics(path string, st *store.Dir, now time.Time) error {
	names, err := st.List()
	if err != nil {
		return err
	}
	infos := loadCertInfos(st, names, now)
	var b strings.Builder
	gauge := func(metric, help string, val func(*certInfo) (float64, bool)) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", metric, help, metric)
		for _, ci := range infos {
			if v, ok := val(ci); ok {
				fmt.Fprintf(&b, "%s{cert_name=%q} %g\n", metric, ci.Name, v)
			}
		}
	}
	unix := func(t *time.Time) (float64, bool) {
		if t == nil {
			return 0, false
		}
		return float64(t.Unix()), true
	}
	gauge("acmectl_certificate_not_after_seconds", "Expiry of the live certificate (Unix time).", func(c *certInfo) (float64, bool) { return unix(c.NotAfter) })
	gauge("acmectl_certificate_next_renewal_seconds", "When the certificate is next due for renewal (Unix time).", func(c *certInfo) (float64, bool) { return unix(c.NextRenewal) })
	gauge("acmectl_certificate_last_success_seconds", "Last successful issuance (Unix time).", func(c *certInfo) (float64, bool) { return unix(c.LastSuccess) })
	gauge("acmectl_certificate_last_failure_seconds", "Last failed renewal attempt (Unix time).", func(c *certInfo) (float64, bool) {
		if c.LastError == nil {
			return 0, false
		}
		return unix(tp(c.LastError.Time))
	})
	gauge("acmectl_certificate_consecutive_failures", "Failed renewal attempts since the last success.", func(c *certInfo) (float64, bool) {
		if c.Backoff == nil {
			return 0, c.state != nil
		}
		return float64(c.Backoff.Failures), true
	})
	gauge("acmectl_certificate_deploy_pending", "1 when deploy hooks failed and are to be re-run.", func(c *certInfo) (float64, bool) {
		if c.DeployPending {
			return 1, true
		}
		return 0, c.state != nil
	})
	fmt.Fprintf(&b, "# HELP acmectl_metrics_written_seconds When this file was written (Unix time).\n# TYPE acmectl_metrics_written_seconds gauge\nacmectl_metrics_written_seconds %d\n", now.Unix())

	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// notImportedHooks are the reminders of s's hooks that import could not
// carry over (a certbot hook that needs a shell) while no hook of their
// event is set: show and doctor print them, long after the import.
func notImportedHooks(name string, s *store.Settings) []string {
	var out []string
	for _, ev := range s.Hooks.Missing() {
		out = append(out, fmt.Sprintf("%s hook %q (it needs a shell): put it in a script, then acmectl reconfigure --cert-name %s --%s-hook SCRIPT",
			ev, oneLine(s.Hooks.NotImported[ev]), name, ev))
	}
	return out
}
