package client

import "strings"

type link struct {
	url string
	rel string
}

// parseLinks parses Link header values (RFC 8288) leniently: entries that
// do not parse are skipped. At most 32 links are returned.
func parseLinks(values []string) []link {
	var out []link
	for _, v := range values {
		for _, part := range splitLinkValue(v) {
			part = strings.TrimSpace(part)
			if !strings.HasPrefix(part, "<") {
				continue
			}
			end := strings.IndexByte(part, '>')
			if end < 0 {
				continue
			}
			l := link{url: part[1:end]}
			for _, param := range strings.Split(part[end+1:], ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				l.rel = strings.ToLower(strings.Trim(strings.TrimSpace(val), `"`))
			}
			out = append(out, l)
			if len(out) == 32 {
				return out
			}
		}
	}
	return out
}

// splitLinkValue splits a Link header at commas outside <...> and quotes.
func splitLinkValue(v string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '<':
			if !quoted {
				depth++
			}
		case '>':
			if !quoted && depth > 0 {
				depth--
			}
		case '"':
			quoted = !quoted
		case ',':
			if depth == 0 && !quoted {
				parts = append(parts, v[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, v[start:])
}
