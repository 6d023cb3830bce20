package client

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// parseRetryAfter reads a Retry-After header value (RFC 9110 §10.2.3):
// delay-seconds or an HTTP-date. Garbage, negative values and dates in the
// past yield zero; values beyond max are clamped to now+max.
func parseRetryAfter(v string, now time.Time, max time.Duration) time.Time {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 64 {
		return time.Time{}
	}
	var t time.Time
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return time.Time{}
		}
		if n > int64(max/time.Second) {
			return now.Add(max)
		}
		t = now.Add(time.Duration(n) * time.Second)
	} else if d, err := http.ParseTime(v); err == nil {
		t = d
	} else {
		return time.Time{}
	}
	if !t.After(now) {
		return time.Time{}
	}
	if t.Sub(now) > max {
		return now.Add(max)
	}
	return t
}
