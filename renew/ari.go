package renew

import "time"

// ARI timing (RFC 9773 §4.3): when to fetch renewalInfo again. The
// certificate identifier, the fetch and the parser are in client
// (client.CertID, Client.RenewalInfo, client.ParseRenewalInfo).

// Limits applied to a renewalInfo Retry-After.
const (
	// ARIRetryMin and ARIRetryMax clamp a renewalInfo Retry-After
	// (RFC 9773 §4.3.2: "values under one minute could be treated as if they
	// were one minute, and values over one day ... as if they were one day").
	ARIRetryMin = time.Minute
	ARIRetryMax = 24 * time.Hour
	// ARIErrorRetry is when to fetch again after a long-term error: missing
	// or invalid Retry-After, invalid object, DNS failure, refused
	// connection, non-5xx status (RFC 9773 §4.3.3: "six hours").
	ARIErrorRetry = 6 * time.Hour
)

// ClampARIRetry applies RFC 9773 §4.3.2 limits to a renewalInfo
// Retry-After: below ARIRetryMin counts as ARIRetryMin (negative included),
// above ARIRetryMax as ARIRetryMax.
func ClampARIRetry(d time.Duration) time.Duration {
	return min(max(d, ARIRetryMin), ARIRetryMax)
}

// NextARIFetch is when to fetch renewalInfo again after a successful fetch
// at now. ok reports whether a valid Retry-After came with it; without one
// the response counts as a long-term error (RFC 9773 §4.3.3) and the answer
// is now+ARIErrorRetry.
func NextARIFetch(now time.Time, retryAfter time.Duration, ok bool) time.Time {
	if !ok {
		return now.Add(ARIErrorRetry)
	}
	return now.Add(ClampARIRetry(retryAfter))
}
