package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/acmectl/acmectl/challenges"
)

// Failpoints: named steps where Config.Failpoint is called, for crash and
// concurrency tests.
const (
	FailpointBeforeNewOrder = "before-new-order"
	FailpointAfterNewOrder  = "after-new-order"
	FailpointAfterPresent   = "after-present"
	FailpointAfterChallenge = "after-challenge"
	FailpointBeforeFinalize = "before-finalize"
	FailpointAfterFinalize  = "after-finalize"
	FailpointAfterDownload  = "after-download"
)

// DefaultOrderTimeout bounds one Obtain (Config.OrderTimeout overrides it).
const DefaultOrderTimeout = 10 * time.Minute

// Polling: start short, back off, follow Retry-After exactly when sent.
const (
	pollStart = 15 * time.Millisecond
	pollMax   = 5 * time.Second
)

// CheckOrder validates an order request against the server's dialect and
// directory before any state-changing request: features the dialect lacks
// (Directory.Supports), profiles the server does not offer, and
// identifiers' grammar.
func (c *Client) CheckOrder(ctx context.Context, req *OrderRequest) error {
	dir, err := c.Directory(ctx)
	if err != nil {
		return err
	}
	if len(req.Identifiers) == 0 {
		return errors.New("no identifiers to order")
	}
	for _, id := range req.Identifiers {
		if err := validateIdentifier(id); err != nil {
			return err
		}
		if id.Type == challenges.IdentifierIP && !dir.Supports.IPIdentifiers {
			return &UnsupportedError{Feature: "IP identifiers", Dialect: dir.Dialect}
		}
		if strings.HasPrefix(id.Value, "*.") && !dir.Supports.Wildcards {
			return &UnsupportedError{Feature: "wildcard names", Dialect: dir.Dialect}
		}
	}
	if req.Profile != "" {
		if _, ok := dir.Meta.Profiles[req.Profile]; !ok {
			offered := "none"
			if names := dir.ProfileNames(); len(names) > 0 {
				offered = strings.Join(names, ", ")
			}
			return &UnsupportedError{Feature: fmt.Sprintf("profile %q", req.Profile), Dialect: dir.Dialect,
				Detail: "the server offers: " + offered}
		}
	}
	if dir.Boulder {
		if err := checkBoulderIPs(dir, req.Identifiers, req.Profile); err != nil {
			return err
		}
	}
	if dir.Boulder && (!req.NotBefore.IsZero() || !req.NotAfter.IsZero()) {
		return &UnsupportedError{Feature: "notBefore/notAfter", Dialect: BoulderPolicy,
			Detail: "Let's Encrypt answers malformed \"NotBefore and NotAfter are not supported\": leave out --not-before/--not-after (a profile such as shortlived gives a shorter lifetime)"}
	}
	if !dir.Supports.ValidityDates && (!req.NotBefore.IsZero() || !req.NotAfter.IsZero()) {
		return &UnsupportedError{Feature: "notBefore/notAfter", Dialect: dir.Dialect}
	}
	if len(req.CSR) == 0 {
		return errors.New("no CSR")
	}
	return nil
}

// Obtain runs the whole order workflow (RFC 8555 §7.4) for req with
// account a: new order (or the resumed one), authorizations solved in
// parallel, finalize with req.CSR, certificate download and verification.
// Solvers are always cleaned up, also when ctx is cancelled. Errors:
// *AuthorizationError for a failed validation, *Problem / *TemporaryError
// from the CA, *ProtocolError for a response that breaks the rules,
// *UnsupportedError found before any state-changing request.
func (c *Client) Obtain(ctx context.Context, a *Account, req OrderRequest) (*Certificate, error) {
	startReqs := c.Requests()
	d, err := c.dialect(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.CheckOrder(ctx, &req); err != nil {
		return nil, err
	}
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		return nil, fmt.Errorf("parse CSR: %w", err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.OrderTimeout, &TemporaryError{Err: fmt.Errorf("order did not complete within %v", c.cfg.OrderTimeout)})
	defer cancel()
	progress := func(step, id, detail string) {
		if req.Progress != nil {
			req.Progress(Event{Step: step, Identifier: id, Detail: detail})
		}
	}

	var o *Order
	if req.ResumeURL != "" {
		o = c.resumable(ctx, d, a, req)
	}
	if o == nil {
		c.failpoint(ctx, FailpointBeforeNewOrder)
		progress("order", "", "creating order")
		o, err = d.newOrder(ctx, a, &req)
		if err != nil {
			var p *Problem
			if req.Replaces != "" && errors.As(err, &p) && replacesRefused(p) {
				c.log.Info("order with replaces refused, retrying without it", "err", err)
				req.Replaces = ""
				o, err = d.newOrder(ctx, a, &req)
			}
			if err != nil {
				return nil, err
			}
		}
		if err := checkOrderIdentifiers(o, req.Identifiers); err != nil {
			return nil, err
		}
		c.log.Info("order created", "order_url", o.URL, "status", o.Status)
		if req.OnOrder != nil && o.URL != "" {
			if err := req.OnOrder(o.URL); err != nil {
				return nil, fmt.Errorf("record order: %w", err)
			}
		}
		c.failpoint(ctx, FailpointAfterNewOrder)
	}

	if o.Status == StatusPending {
		if err := c.solveAll(ctx, d, a, o, &req, progress); err != nil {
			return nil, err
		}
	}
	if err := c.waitOrder(ctx, d, a, o, StatusPending); err != nil {
		return nil, err
	}
	if o.Status == StatusReady {
		progress("finalize", "", "finalizing")
		c.failpoint(ctx, FailpointBeforeFinalize)
		if err := c.finalize(ctx, d, a, o, req.CSR); err != nil {
			return nil, err
		}
		c.failpoint(ctx, FailpointAfterFinalize)
	}
	if err := c.waitFinalized(ctx, d, a, o); err != nil {
		return nil, err
	}
	if o.Status != StatusValid {
		return nil, &ProtocolError{URL: o.URL, What: fmt.Sprintf("order status %q after finalize", o.Status)}
	}
	progress("download", "", "downloading certificate")
	chain, alts, err := d.fetchCertificate(ctx, a, o, req.AlternateChains)
	if err != nil {
		return nil, err
	}
	if err := verifyChain(chain, csr, req.Identifiers, c.now()); err != nil {
		return nil, &ProtocolError{URL: o.Certificate, What: err.Error()}
	}
	cert := &Certificate{OrderURL: o.URL, URL: o.Certificate, Chain: chain}
	for _, alt := range alts {
		if err := verifyChain(alt, csr, req.Identifiers, c.now()); err != nil {
			c.log.Warn("alternate chain rejected", "err", err)
			continue
		}
		cert.Alternates = append(cert.Alternates, alt)
	}
	c.failpoint(ctx, FailpointAfterDownload)
	cert.Requests = c.Requests() - startReqs
	// The caller reports the issuance (once); this is for debugging.
	c.log.Debug("order complete", "order_url", o.URL, "requests", cert.Requests)
	return cert, nil
}

// replacesRefused reports whether a newOrder problem sent with "replaces"
// may be the CA refusing that field, so that one retry without it is worth
// a request: any 4xx answer (Boulder: 409 alreadyReplaced, 404 malformed
// for an unknown certificate, 403 unauthorized for a certificate of
// another account, 400 malformed for no identifier in common) except
// rateLimited and badNonce, and except problems that name another cause
// (the JWS signature, e.g. right after a key rollover; the validity
// window; identifiers; the profile; the account or its terms).
func replacesRefused(p *Problem) bool {
	if p.Status < 400 || p.Status >= 500 {
		return false
	}
	switch p.Short() {
	case ProblemRateLimited, ProblemBadNonce, ProblemRejectedIdentifier, "unsupportedIdentifier",
		ProblemInvalidProfile, ProblemAccountDoesNotExist, ProblemUserActionRequired, ProblemAgreementRequired,
		ProblemExternalAccountReq, "badSignatureAlgorithm", "badPublicKey", "caa", "dns", "invalidContact":
		return false
	case ProblemMalformed:
		d := strings.ToLower(p.Detail)
		if strings.Contains(d, "replace") {
			return true
		}
		for _, other := range []string{"jws", "signature", "notbefore", "notafter", "identifier", "profile"} {
			if strings.Contains(d, other) {
				return false
			}
		}
	}
	return true
}

// resumable fetches the stored order and returns it when it can still
// lead to a certificate for the same identifiers, else nil.
func (c *Client) resumable(ctx context.Context, d dialect, a *Account, req OrderRequest) *Order {
	o, err := d.fetchOrder(ctx, a, &Order{URL: req.ResumeURL})
	if err != nil {
		c.log.Info("stored order not resumable", "order_url", req.ResumeURL, "err", err)
		return nil
	}
	if o.Status == StatusInvalid || checkOrderIdentifiers(o, req.Identifiers) != nil ||
		(req.Profile != "" && o.Profile != "" && o.Profile != req.Profile) ||
		(!o.Expires.IsZero() && o.Expires.Before(c.now().Add(time.Minute))) {
		c.log.Info("stored order not resumable", "order_url", req.ResumeURL, "status", o.Status)
		return nil
	}
	c.log.Info("resuming order", "order_url", o.URL, "status", o.Status)
	return o
}

func checkOrderIdentifiers(o *Order, want []Identifier) error {
	if o.Identifiers == nil { // the server listed none: nothing to compare
		return nil
	}
	norm := func(ids []Identifier) []string {
		var s []string
		for _, id := range ids {
			s = append(s, id.Type+":"+strings.ToLower(id.Value))
		}
		slices.Sort(s)
		return slices.Compact(s)
	}
	if !slices.Equal(norm(o.Identifiers), norm(want)) {
		return &ProtocolError{URL: o.URL, What: "order identifiers differ from the request"}
	}
	return nil
}

// presented is one challenge handed to a solver.
type presented struct {
	solver challenges.Solver
	ch     challenges.Challenge
	acme   *Challenge
	authz  *Authorization
}

// solveAll fetches the order's authorizations and solves the pending ones
// in parallel: all Present, then all Wait, then all answers, then polling.
// Challenges a challenges.Serializer keys alike are solved one after
// another (serialRounds), each validated and cleaned up before the next.
func (c *Client) solveAll(ctx context.Context, d dialect, a *Account, o *Order, req *OrderRequest, progress func(string, string, string)) error {
	thumb, err := Thumbprint(a.Key)
	if err != nil {
		return err
	}
	authzs := make([]*Authorization, len(o.Authorizations))
	if err := parallelN(ctx, len(o.Authorizations), maxAuthzFetches, func(ctx context.Context, i int) error {
		az, err := d.fetchAuthorization(ctx, a, o.Authorizations[i])
		if err != nil {
			return err
		}
		if !orderHasIdentifier(o, req.Identifiers, az) {
			return &ProtocolError{URL: az.URL, What: fmt.Sprintf("authorization for %q was not requested", Sanitize(az.Identifier.Value, 64))}
		}
		authzs[i] = az
		return nil
	}); err != nil {
		return err
	}

	var todo []*presented
	for _, az := range authzs {
		switch az.Status {
		case StatusValid:
			c.log.Debug("authorization already valid", "identifier", az.Identifier.Value)
			continue
		case StatusPending:
		default:
			return &AuthorizationError{Identifier: az.Identifier, Problem: &Problem{Type: "about:blank",
				Detail: fmt.Sprintf("authorization is %s", az.Status)}}
		}
		p, err := c.choose(az, a, thumb, req)
		if err != nil {
			return err
		}
		todo = append(todo, p)
	}
	if len(todo) == 0 {
		return nil
	}

	// Clean up whatever was presented, whatever happens, with a context
	// that survives the caller's cancellation.
	var mu sync.Mutex
	var done []*presented
	cleanUp := func(ps []*presented) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for _, p := range ps {
			wg.Go(func() {
				if err := p.solver.CleanUp(cctx, p.ch); err != nil {
					c.log.Warn("challenge cleanup failed", "identifier", p.ch.Identifier.Value, "type", p.ch.Type, "err", err)
				}
			})
		}
		wg.Wait()
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		cleanUp(done)
	}()

	rounds := serialRounds(todo)
	for i, round := range rounds {
		if err := c.solveRound(ctx, d, a, round, progress, func(p *presented) {
			mu.Lock()
			done = append(done, p)
			mu.Unlock()
		}); err != nil {
			return err
		}
		if i == len(rounds)-1 {
			break
		}
		// A solver that cannot hold these challenges' answers at once
		// (challenges.Serializer): this round's authorizations are
		// validated and its records removed before the next round is
		// presented.
		if err := c.waitAuthorizations(ctx, d, a, round); err != nil {
			return err
		}
		mu.Lock()
		done = slices.DeleteFunc(done, func(p *presented) bool { return slices.Contains(round, p) })
		mu.Unlock()
		cleanUp(round)
	}
	if err := c.waitOrder(ctx, d, a, o, StatusPending); err != nil {
		return err
	}
	if o.Status == StatusInvalid {
		return c.authzFailure(ctx, d, a, todo, o)
	}
	return nil
}

// serialRounds splits the challenges to solve into rounds that can be
// solved at once: everything in the first, except that challenges whose
// solver gives them the same non-empty SerialKey (challenges.Serializer,
// e.g. a DNS provider holding one TXT value per name, asked for a wildcard
// and its apex) go one per round, in order.
func serialRounds(todo []*presented) [][]*presented {
	seen := map[string]int{}
	var rounds [][]*presented
	for _, p := range todo {
		n := 0
		if s, ok := p.solver.(challenges.Serializer); ok {
			if key := s.SerialKey(p.ch); key != "" {
				n = seen[key]
				seen[key]++
			}
		}
		for len(rounds) <= n {
			rounds = append(rounds, nil)
		}
		rounds[n] = append(rounds[n], p)
	}
	return rounds
}

// solveRound presents the challenges of one round in parallel (added is
// called before each Present, for the cleanup), waits for all of them
// (challenges.Waiter), then answers them.
func (c *Client) solveRound(ctx context.Context, d dialect, a *Account, round []*presented, progress func(string, string, string), added func(*presented)) error {
	if err := parallel(ctx, len(round), func(ctx context.Context, i int) error {
		p := round[i]
		progress("present", p.ch.Identifier.Value, p.ch.Type)
		added(p)
		if err := p.solver.Present(ctx, p.ch); err != nil {
			return fmt.Errorf("%s for %s: %w", p.ch.Type, p.ch.Identifier.Value, err)
		}
		return nil
	}); err != nil {
		return err
	}
	c.failpoint(ctx, FailpointAfterPresent)
	if err := parallel(ctx, len(round), func(ctx context.Context, i int) error {
		p := round[i]
		w, ok := p.solver.(challenges.Waiter)
		if !ok {
			return nil
		}
		progress("propagation", p.ch.Identifier.Value, p.ch.Type)
		if err := w.Wait(ctx, p.ch); err != nil {
			return fmt.Errorf("%s for %s: %w", p.ch.Type, p.ch.Identifier.Value, err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, p := range round {
		progress("validate", p.ch.Identifier.Value, p.ch.Type)
		if err := d.acceptChallenge(ctx, a, p.acme, p.ch.KeyAuthorization); err != nil {
			return err
		}
		c.failpoint(ctx, FailpointAfterChallenge)
	}
	return nil
}

// waitAuthorizations polls the authorizations of a round until none is
// pending or processing; an invalid one ends the order with its problem.
func (c *Client) waitAuthorizations(ctx context.Context, d dialect, a *Account, round []*presented) error {
	for _, p := range round {
		delay := pollStart
		az := p.authz
		for {
			fresh, err := d.fetchAuthorization(ctx, a, az.URL)
			if err != nil {
				return err
			}
			az = fresh
			if az.Status != StatusPending && az.Status != StatusProcessing {
				break
			}
			if err := c.pollWait(ctx, &delay, az.RetryAfter); err != nil {
				return err
			}
		}
		if az.Status != StatusValid {
			return authzError(az, p.ch.Type)
		}
	}
	return nil
}

func orderHasIdentifier(o *Order, want []Identifier, az *Authorization) bool {
	ids := o.Identifiers
	if ids == nil {
		ids = want
	}
	for _, id := range ids {
		v := id.Value
		if az.Wildcard {
			v = strings.TrimPrefix(v, "*.")
			if !strings.HasPrefix(id.Value, "*.") {
				continue
			}
		}
		if id.Type == az.Identifier.Type && strings.EqualFold(v, az.Identifier.Value) {
			return true
		}
	}
	return false
}

// choose picks, in the user's order of preference, the first allowed
// challenge type the CA offers for az, and checks the token.
func (c *Client) choose(az *Authorization, a *Account, thumb string, req *OrderRequest) (*presented, error) {
	var choices []SolverChoice
	if req.Solvers != nil {
		choices = req.Solvers(az.Identifier, az.Wildcard)
	}
	var offered []string
	for _, ch := range az.Challenges {
		offered = append(offered, Sanitize(ch.Type, 32))
	}
	for _, choice := range choices {
		for _, ch := range az.Challenges {
			if ch.Type != choice.Type {
				continue
			}
			if ch.Type != challenges.DNSPersist01 && !validToken(ch.Token) {
				return nil, &ProtocolError{URL: az.URL, What: fmt.Sprintf("%s challenge token is not base64url", ch.Type)}
			}
			if _, err := c.checkURL(ch.URL, "challenge"); err != nil {
				return nil, err
			}
			id := az.Identifier
			return &presented{
				solver: choice.Solver,
				acme:   ch,
				authz:  az,
				ch: challenges.Challenge{
					Type: ch.Type, Identifier: id, Wildcard: az.Wildcard, Token: ch.Token,
					KeyAuthorization: ch.Token + "." + thumb, AccountURL: a.URL, URL: ch.URL,
					IssuerDomainNames: ch.IssuerDomainNames,
				},
			}, nil
		}
	}
	var allowed []string
	for _, ch := range choices {
		allowed = append(allowed, ch.Type)
	}
	name := az.Identifier.Value
	if az.Wildcard {
		name = "*." + name
	}
	return nil, &AuthorizationError{Identifier: Identifier{Type: az.Identifier.Type, Value: name}, Problem: &Problem{Type: "about:blank",
		Detail: fmt.Sprintf("the CA offers %s; configured solvers handle %s", orNone(offered), orNone(allowed))}}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// authzFailure explains an invalid order by its failed authorizations.
func (c *Client) authzFailure(ctx context.Context, d dialect, a *Account, todo []*presented, o *Order) error {
	for _, p := range todo {
		az, err := d.fetchAuthorization(ctx, a, p.authz.URL)
		if err != nil {
			continue
		}
		if az.Status == StatusInvalid {
			return authzError(az, p.ch.Type)
		}
	}
	if o.Error != nil {
		return o.Error
	}
	return &ProtocolError{URL: o.URL, What: "order became invalid"}
}

func authzError(az *Authorization, typ string) error {
	e := &AuthorizationError{Identifier: az.Identifier, Type: typ}
	for _, ch := range az.Challenges {
		if ch.Type == typ && ch.Error != nil {
			e.Problem = ch.Error
		}
	}
	if e.Problem == nil {
		for _, ch := range az.Challenges {
			if ch.Error != nil {
				e.Problem = ch.Error
			}
		}
	}
	return e
}

// waitOrder polls o while its status is from.
func (c *Client) waitOrder(ctx context.Context, d dialect, a *Account, o *Order, from string) error {
	delay := pollStart
	for o.Status == from {
		if err := c.pollWait(ctx, &delay, o.RetryAfter); err != nil {
			return err
		}
		fresh, err := d.fetchOrder(ctx, a, o)
		if err != nil {
			return err
		}
		*o = *fresh
	}
	if o.Status == StatusInvalid && from == StatusProcessing {
		if o.Error != nil {
			return &DeadOrderError{OrderURL: o.URL, Err: fmt.Errorf("order invalid: %w", o.Error)}
		}
		return &DeadOrderError{OrderURL: o.URL, Err: &ProtocolError{URL: o.URL, What: "order became invalid"}}
	}
	return nil
}

// staleReadWindow is how long a read that still shows the state from
// before a finalize or a challenge answer is taken for replica lag (Boulder
// reads orders from database replicas) rather than for a broken server.
const staleReadWindow = 15 * time.Second

// waitFinalized polls a finalized order until it leaves processing; an
// order still "ready" right after finalize is a stale read, polled again
// for up to staleReadWindow.
func (c *Client) waitFinalized(ctx context.Context, d dialect, a *Account, o *Order) error {
	until := c.now().Add(staleReadWindow)
	delay := pollStart
	for {
		if err := c.waitOrder(ctx, d, a, o, StatusProcessing); err != nil {
			return err
		}
		if o.Status != StatusReady || !c.now().Before(until) {
			return nil
		}
		c.log.Debug("order still ready after finalize (stale read), polling again", "order_url", o.URL)
		if err := c.pollWait(ctx, &delay, o.RetryAfter); err != nil {
			return err
		}
		fresh, err := d.fetchOrder(ctx, a, o)
		if err != nil {
			return err
		}
		*o = *fresh
	}
}

// pollWait sleeps before the next poll. A Retry-After past the order's
// deadline ends the order now with a *TemporaryError carrying that time
// (the caller persists it) instead of sleeping into the deadline.
func (c *Client) pollWait(ctx context.Context, delay *time.Duration, retryAfter time.Time) error {
	if dl, ok := ctx.Deadline(); ok && !retryAfter.IsZero() && retryAfter.After(dl) {
		return &TemporaryError{Err: fmt.Errorf("order did not complete before its deadline: the CA asked to poll again at %s", retryAfter.UTC().Format(time.RFC3339)), RetryAfter: retryAfter}
	}
	return sleepCtx(ctx, c.pollDelay(delay, retryAfter))
}

// pollDelay is the next wait: the server's Retry-After exactly when it
// sent one, else the backoff (which then grows).
func (c *Client) pollDelay(delay *time.Duration, retryAfter time.Time) time.Duration {
	if !retryAfter.IsZero() {
		if d := retryAfter.Sub(c.now()); d > 0 {
			return d
		}
	}
	d := *delay
	*delay = min(*delay*5/2, pollMax)
	return d
}

// finalize submits the CSR. A lost response is recovered by reading the
// order, never by a second finalize of an order that moved on.
func (c *Client) finalize(ctx context.Context, d dialect, a *Account, o *Order, csr []byte) error {
	err := d.finalize(ctx, a, o, csr)
	var te *TemporaryError
	var p *Problem
	if err != nil && !errors.As(err, &te) && errors.As(err, &p) && p.Status >= 400 && p.Status < 500 &&
		!p.Has(ProblemOrderNotReady) && !p.Has(ProblemBadNonce) && !p.Has(ProblemRateLimited) {
		return &DeadOrderError{OrderURL: o.URL, Err: err}
	}
	if err != nil && errors.As(err, &p) && p.Has(ProblemOrderNotReady) {
		return c.finalizeNotReady(ctx, d, a, o, csr, err)
	}
	if err == nil || !errors.As(err, &te) {
		return err
	}
	fresh, ferr := d.fetchOrder(ctx, a, o)
	if ferr != nil {
		return err
	}
	*o = *fresh
	if o.Status == StatusReady {
		return d.finalize(ctx, a, o, csr)
	}
	return nil
}

// maxAuthzFetches bounds the authorization fetches in flight for one
// order. Each needs a nonce, and Let's Encrypt's load balancer answers a
// burst of new-nonce requests from one address with 503.
const maxAuthzFetches = 4

// finalizeNotReady handles orderNotReady after the order was seen ready:
// a replica that lags behind the challenge answers. The order is read
// again (with backoff, for up to staleReadWindow) and finalized once it is
// ready; one already processing or valid was finalized before.
func (c *Client) finalizeNotReady(ctx context.Context, d dialect, a *Account, o *Order, csr []byte, first error) error {
	until := c.now().Add(staleReadWindow)
	delay := pollStart
	err := first
	for c.now().Before(until) {
		if werr := c.pollWait(ctx, &delay, time.Time{}); werr != nil {
			return werr
		}
		fresh, ferr := d.fetchOrder(ctx, a, o)
		if ferr != nil {
			return ferr
		}
		*o = *fresh
		switch o.Status {
		case StatusProcessing, StatusValid:
			return nil
		case StatusPending:
			continue
		case StatusReady:
			c.log.Debug("finalize refused as not ready (stale read), finalizing again", "order_url", o.URL)
			err = d.finalize(ctx, a, o, csr)
			var p *Problem
			if err == nil || !errors.As(err, &p) || !p.Has(ProblemOrderNotReady) {
				return err
			}
		default:
			return err
		}
	}
	return err
}

// parallel runs fn(0..n-1) concurrently and returns the first error,
// cancelling the others.
func parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	return parallelN(ctx, n, n, fn)
}

// parallelN is parallel with at most limit calls of fn running at once.
func parallelN(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	if n == 1 {
		return fn(ctx, 0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = context.Cause(ctx)
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// verifyChain checks what the CA returned against what was ordered: leaf
// key equals the CSR key, leaf names equal the identifiers, each
// certificate is signed by the next, no repeats, leaf not expired.
func verifyChain(chain [][]byte, csr *x509.CertificateRequest, ids []Identifier, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("empty certificate chain")
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("certificate %d does not parse: %v", i+1, err)
		}
		for j := range i {
			if bytes.Equal(chain[j], der) {
				return errors.New("certificate chain repeats a certificate (loop)")
			}
		}
		certs[i] = cert
	}
	leaf := certs[0]
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(csr.PublicKey) {
		return errors.New("certificate key does not match the requested key")
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if !leaf.NotAfter.After(leaf.NotBefore) {
		return errors.New("certificate validity is empty (notAfter is not after notBefore)")
	}
	if leaf.IsCA {
		return errors.New("certificate is a CA certificate (basicConstraints CA:TRUE), not a server certificate")
	}
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return errors.New("certificate lacks the serverAuth extended key usage")
	}
	var got []string
	for _, n := range leaf.DNSNames {
		got = append(got, "dns:"+strings.ToLower(n))
	}
	for _, ip := range leaf.IPAddresses {
		got = append(got, "ip:"+ip.String())
	}
	var want []string
	for _, id := range ids {
		v := strings.ToLower(id.Value)
		if id.Type == challenges.IdentifierIP {
			v = net.ParseIP(id.Value).String()
		}
		want = append(want, id.Type+":"+v)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(slices.Compact(got), slices.Compact(want)) {
		return fmt.Errorf("certificate names %s differ from the order %s", Sanitize(strings.Join(got, ","), 300), strings.Join(want, ","))
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return fmt.Errorf("certificate %d is not signed by certificate %d: %v", i+1, i+2, err)
		}
	}
	return nil
}
