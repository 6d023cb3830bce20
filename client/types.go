package client

import (
	"crypto"
	"time"

	"github.com/acmectl/acmectl/challenges"
)

// Identifier is an order identifier (RFC 8555 §9.7.7, RFC 8738).
type Identifier = challenges.Identifier

// Account is an ACME account at one server.
type Account struct {
	URL     string
	Key     crypto.Signer
	Contact []string
	Status  string // valid, deactivated, revoked
	// TermsAgreed is the terms URL the account agreed to (legacy v1's
	// "agreement"), or "true" for RFC 8555's boolean.
	TermsAgreed string
	Orders      string // RFC 8555 orders list URL, if the server gave one
	// KeyChanged is when the CA accepted Key in a rollover (zero if long
	// ago or unknown): a signature refused right after it is retried.
	KeyChanged time.Time
}

// RegisterOptions are the choices for a new account.
type RegisterOptions struct {
	Contact    []string // "mailto:..." URIs
	AgreeTerms bool
	// EAB binding (RFC 8555 §7.3.4); used when KeyID is set.
	EABKeyID   string
	EABHMACKey []byte
	// OnlyReturnExisting finds the account for the key without creating one.
	OnlyReturnExisting bool
}

// OrderRequest is what Obtain orders.
type OrderRequest struct {
	Identifiers []Identifier
	// CSR is the DER certificate request sent at finalize; its public key
	// must be the certificate key.
	CSR       []byte
	Profile   string
	NotBefore time.Time
	NotAfter  time.Time
	// Replaces is the ARI certID of the certificate being renewed (RFC
	// 9773 §5), sent only when the server has renewalInfo.
	Replaces string
	// ResumeURL is an order of an earlier run to continue when usable.
	ResumeURL string
	// Solvers lists, per identifier, the challenge types and solvers the
	// user allows in order of preference.
	Solvers func(id Identifier, wildcard bool) []SolverChoice
	// OnOrder is called once the order exists (and before any challenge is
	// answered) with its URL, so the caller can persist it for resuming.
	OnOrder func(url string) error
	// AlternateChains asks for the Link rel="alternate" chains too.
	AlternateChains bool
	// Progress, if set, receives short status events.
	Progress func(Event)
}

// SolverChoice pairs a challenge type with the solver that answers it.
type SolverChoice struct {
	Type   string
	Solver challenges.Solver
}

// Event is a progress event of the order workflow.
type Event struct {
	Step       string // "order", "present", "propagation", "validate", "finalize", "download"
	Identifier string
	Detail     string
}

// Order is an order (RFC 8555 §7.1.3), or one a dialect without orders
// emulates.
type Order struct {
	URL            string
	Status         string
	Identifiers    []Identifier
	Authorizations []string
	Finalize       string
	Certificate    string
	Expires        time.Time
	Replaces       string
	Profile        string
	Error          *Problem
	RetryAfter     time.Time

	// ext is the dialect's private state of an order it emulates.
	ext any
}

// Authorization is an authorization (RFC 8555 §7.1.4).
type Authorization struct {
	URL        string
	Status     string
	Identifier Identifier
	Wildcard   bool
	Challenges []*Challenge
	Expires    time.Time
	RetryAfter time.Time
}

// Challenge is a challenge object (RFC 8555 §7.1.5).
type Challenge struct {
	Type      string
	URL       string
	Token     string
	Status    string
	Error     *Problem
	Validated time.Time
	// dns-persist-01
	AccountURI        string
	IssuerDomainNames []string
}

// Certificate is the result of a successful order.
type Certificate struct {
	OrderURL string
	URL      string
	// Chain is the chosen chain, leaf first, each DER.
	Chain [][]byte
	// Alternates are the other chains offered (when asked for).
	Alternates [][][]byte
	// Requests is the number of HTTP requests the order took.
	Requests int64
}

// Order and authorization statuses.
const (
	StatusPending     = "pending"
	StatusReady       = "ready"
	StatusProcessing  = "processing"
	StatusValid       = "valid"
	StatusInvalid     = "invalid"
	StatusDeactivated = "deactivated"
	StatusExpired     = "expired"
	StatusRevoked     = "revoked"
)
