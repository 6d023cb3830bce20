package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// flagHabit maps a flag that certbot and lego users type out of habit to
// what acmectl calls it ("" when it is no known habit).
func flagHabit(flag string) string {
	switch flag {
	case "--agree-tos":
		return "--accept-tos"
	case "-m":
		return "--email ADDR"
	case "--staging":
		return "--server letsencrypt-staging"
	case "--test-cert":
		return "--server letsencrypt-staging"
	case "--standalone":
		return "--http-01 (built-in responder on :80)"
	case "-w":
		return "--webroot DIR"
	case "--webroot-path":
		return "--webroot DIR"
	case "--non-interactive":
		return "nothing: acmectl never prompts off a terminal (irreversible commands take --yes)"
	case "-n":
		return "nothing: acmectl never prompts off a terminal (irreversible commands take --yes)"
	case "--domains":
		return "-d NAME (repeatable, or -d a,b)"
	case "--expand":
		return "nothing: obtain with the new -d list (names added or removed are shown)"
	case "--keep-until-expiring":
		return "nothing: obtain keeps a current certificate unless --force"
	case "--force-renewal":
		return "--force"
	case "--renew-by-default":
		return "--force"
	case "--preferred-challenges":
		return "--http-01, --webroot DIR, --tls-alpn-01 or --dns-01 PROVIDER"
	case "--rsa-key-size":
		return "--key-type rsa2048|rsa3072|rsa4096"
	case "--config-dir":
		return "--state-dir DIR"
	case "--work-dir":
		return "--state-dir DIR"
	case "--manual":
		return "--dns-01 manual"
	case "--dns-cloudflare":
		return "--dns-01 cloudflare"
	case "--no-eff-email":
		return "nothing: acmectl shares no address with third parties"
	case "--quiet-renew":
		return "--quiet"
	case "--cert-path":
		return "the stable paths under the state dir (acmectl show N lists them)"
	case "--path":
		return "--state-dir DIR"
	case "--http":
		return "--http-01"
	case "--http.webroot":
		return "--webroot DIR"
	case "--http.port":
		return "--http-01-addr ADDR"
	case "--tls":
		return "--tls-alpn-01"
	case "--tls.port":
		return "--tls-alpn-01-addr ADDR"
	case "--dns":
		return "--dns-01 PROVIDER"
	case "--dns.resolvers":
		return "--dns-resolvers HOST:PORT,..."
	case "--days":
		return "nothing: renew decides by ARI or the remaining lifetime (acmectl show N says when)"
	case "--renew-hook":
		return "--deploy-hook PROGRAM"
	case "--run-hook":
		return "--deploy-hook PROGRAM"
	case "--eab":
		return "--eab-kid KID --eab-hmac-key-file FILE"
	case "--hmac":
		return "--eab-hmac-key-file FILE (never a secret as a flag value)"
	case "--kid":
		return "--eab-kid KID"
	}
	return ""
}

// commandHabit does the same for certbot's and lego's command names.
func commandHabit(name string) string {
	switch name {
	case "certonly":
		return "obtain"
	case "run":
		return "obtain"
	case "certificates":
		return "list"
	case "install":
		return "obtain with a --deploy-hook that reloads your server"
	case "register":
		return "account register"
	case "unregister":
		return "account deactivate"
	case "update_account":
		return "account update"
	case "revoke-cert":
		return "revoke"
	}
	return ""
}

// usageHint rewrites cobra's and pflag's parse errors as one line and adds
// the acmectl equivalent of a certbot or lego habit.
func usageHint(cmd *cobra.Command, msg string) string {
	if flag := unknownFlag(msg); flag != "" {
		if h := flagHabit(flag); h != "" {
			return fmt.Sprintf("unknown flag %s: acmectl's equivalent is %s", flag, h)
		}
		if cmd != nil {
			if near := nearFlag(cmd, flag); near != "" {
				return fmt.Sprintf("unknown flag %s (did you mean --%s?)", flag, near)
			}
			return fmt.Sprintf("unknown flag %s (%s --help lists the flags)", flag, cmd.CommandPath())
		}
		return "unknown flag " + flag + " (acmectl help COMMAND lists the flags)"
	}
	if strings.HasPrefix(msg, "unknown command ") {
		// cobra: unknown command "x" for "acmectl"\n\nDid you mean this?\n\tobtain\n
		first, rest, _ := strings.Cut(msg, "\n")
		name := ""
		if i := strings.Index(first, `"`); i >= 0 {
			if j := strings.Index(first[i+1:], `"`); j >= 0 {
				name = first[i+1 : i+1+j]
			}
		}
		if h := commandHabit(name); h != "" {
			return fmt.Sprintf("unknown command %q: acmectl's equivalent is %s", name, h)
		}
		var sugg []string
		if _, after, ok := strings.Cut(rest, "Did you mean this?"); ok {
			for _, f := range strings.Fields(after) {
				sugg = append(sugg, f)
			}
		}
		if len(sugg) > 0 {
			return fmt.Sprintf("%s (did you mean %s?)", first, strings.Join(sugg, " or "))
		}
		return first + " (acmectl help lists the commands)"
	}
	return oneLine(msg)
}

// jsonRequested reports whether --json appears among the arguments before
// a "--", for errors found before the flags are parsed.
func jsonRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
	}
	return false
}

// newHelpCmd is cobra's help command, except that an unknown topic is a
// usage error (exit 2) instead of a help page and exit 0.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil || cmd == nil || len(rest) > 0 {
				topic := strings.Join(args, " ")
				return usagef("no help topic %q (acmectl help lists the commands)", topic)
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

// unknownFlag returns the flag named in pflag's "unknown flag: --x" and
// "unknown shorthand flag: 'm' in -m" messages, or "".
func unknownFlag(msg string) string {
	if rest, ok := strings.CutPrefix(msg, "unknown flag: "); ok {
		f, _, _ := strings.Cut(rest, "=")
		if i := strings.IndexAny(f, " \t"); i >= 0 {
			f = f[:i]
		}
		return f
	}
	if rest, ok := strings.CutPrefix(msg, "unknown shorthand flag: '"); ok && len(rest) > 1 && rest[1] == '\'' {
		return "-" + rest[:1]
	}
	return ""
}

// nearFlag finds the command's flag that flag most likely meant: the same
// letters apart from '-', '_' and '.', or at most two edits away.
func nearFlag(cmd *cobra.Command, flag string) string {
	norm := func(s string) string {
		return strings.NewReplacer("-", "", "_", "", ".", "").Replace(strings.ToLower(s))
	}
	want := norm(flag)
	best, bestDist := "", 3
	visit := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := editDistance(want, norm(f.Name))
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	if len(want) < 4 && bestDist > 0 {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
