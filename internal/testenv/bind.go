package testenv

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zone is one zone served by StartBIND.
type Zone struct {
	// Name is the zone's apex without a trailing dot, e.g. "acme.test".
	Name string
	// Records are extra zone-file lines, with names relative to the apex or
	// absolute, e.g. `_acme-challenge.www IN CNAME x.delegated.test.`.
	Records []string
	// Lagging makes a second named instance (BIND.Lagging, on 127.0.0.1
	// with its own port) authoritative for this zone too, listed as
	// ns2.<zone> (A 127.0.0.1; tests map that name to BIND.Lagging.Addr). It starts with the same data and receives no update
	// unless a test sends one to BIND.Lagging.Addr, so a propagation check
	// sees one authority lag behind the other.
	Lagging bool
}

// BIND is a running named (BIND 9) authoritative for some zones on
// 127.0.0.1, accepting RFC 2136 updates of TXT records signed with its TSIG
// key. Every zone has "ns1.<zone> A 127.0.0.1" as its NS and
// "* A 127.0.0.1", so Pebble can resolve any name through it (over TCP).
type BIND struct {
	Addr      string // "127.0.0.1:port", UDP and TCP
	IP        string // "127.0.0.1"
	Port      int
	Dir       string
	TSIGFile  string // tsig-keygen format: key "name" { algorithm ...; secret "..."; };
	KeyName   string // without a trailing dot
	Algorithm string // "hmac-sha256"
	Secret    string // base64
	// Lagging is the second instance (same key, own port) when a zone
	// asked for it, else nil.
	Lagging *BIND

	proc *Process
}

// StartBIND runs `named -g -n 1` for zones (default: acme.test) on a free
// port and waits until it answers an SOA query over TCP. It is stopped when
// the test ends. Skipped (or failed under ACMECTL_REQUIRE_SERVERS=1) when
// named is not installed.
func StartBIND(t testing.TB, zones ...Zone) *BIND {
	t.Helper()
	named := LookTool(t, "named", "apt-get install bind9")
	if len(zones) == 0 {
		zones = []Zone{{Name: "acme.test"}}
	}
	lagging := false
	for _, z := range zones {
		if z.Lagging {
			lagging = true
		}
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatalf("testenv: tsig secret: %v", err)
	}
	secret := base64.StdEncoding.EncodeToString(raw)
	b := startNamed(t, named, FreeUDPTCPPort(t), secret, zones, lagging, false)
	if lagging {
		b.Lagging = startNamed(t, named, FreeUDPTCPPort(t), secret, zones, lagging, true)
	}
	return b
}

func startNamed(t testing.TB, named string, port int, secret string, zones []Zone, withNS2, second bool) *BIND {
	t.Helper()
	const ip = "127.0.0.1"
	dir := t.TempDir()
	b := &BIND{
		Addr:      net.JoinHostPort(ip, strconv.Itoa(port)),
		IP:        ip,
		Port:      port,
		Dir:       dir,
		TSIGFile:  filepath.Join(dir, "tsig.key"),
		KeyName:   "acmectl-key",
		Algorithm: "hmac-sha256",
		Secret:    secret,
	}
	key := fmt.Sprintf("key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", b.KeyName, b.Algorithm, secret)
	if err := os.WriteFile(b.TSIGFile, []byte(key), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, `include %q;
options {
	directory %q;
	pid-file %q;
	session-keyfile %q;
	managed-keys-directory %q;
	listen-on port %d { %s; };
	listen-on-v6 { none; };
	recursion no;
	allow-query { 127.0.0.0/8; };
	allow-transfer { none; };
	dnssec-validation no;
	notify no;
	querylog yes;
};
controls { };
`, b.TSIGFile, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), dir, port, ip)
	for _, z := range zones {
		if second && !z.Lagging {
			continue
		}
		name := strings.TrimSuffix(z.Name, ".")
		file := filepath.Join(dir, name+".zone")
		var zf strings.Builder
		fmt.Fprintf(&zf, "$TTL 60\n@ IN SOA ns1.%s. hostmaster.%s. ( 1 60 60 600 60 )\n@ IN NS ns1.%s.\nns1 IN A 127.0.0.1\n", name, name, name)
		if withNS2 && z.Lagging {
			fmt.Fprintf(&zf, "@ IN NS ns2.%s.\nns2 IN A 127.0.0.1\n", name)
		}
		zf.WriteString("@ IN A 127.0.0.1\n* IN A 127.0.0.1\n")
		for _, r := range z.Records {
			zf.WriteString(r + "\n")
		}
		if err := os.WriteFile(file, []byte(zf.String()), 0o644); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		fmt.Fprintf(&conf, "zone %q {\n\ttype primary;\n\tfile %q;\n\tupdate-policy { grant %s zonesub TXT; };\n};\n", name, file, b.KeyName)
	}
	confFile := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	b.proc = Start(t, "named "+b.Addr, exec.Command(named, "-g", "-n", "1", "-c", confFile))
	probe := strings.TrimSuffix(zones[0].Name, ".") + "."
	if second {
		for _, z := range zones {
			if z.Lagging {
				probe = strings.TrimSuffix(z.Name, ".") + "."
				break
			}
		}
	}
	WaitFor(t, "named "+b.Addr, 10*time.Second, func() error {
		if b.proc.Cmd.ProcessState != nil {
			return fmt.Errorf("named exited: %s", b.proc.Log.String())
		}
		m := new(dns.Msg)
		m.SetQuestion(probe, dns.TypeSOA)
		c := &dns.Client{Net: "tcp", Timeout: time.Second}
		r, _, err := c.Exchange(m, b.Addr)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("SOA %s: %s", probe, dns.RcodeToString[r.Rcode])
		}
		return nil
	})
	return b
}

// Log is named's output so far (including its query log).
func (b *BIND) Log() string { return b.proc.Log.String() }

// SawQuery reports whether named has logged a query for name (absolute,
// any case) and type (e.g. "TXT") so far. named's query log reaches Log
// through a pipe, possibly after the answer reached the client: to assert
// that a query happened, use AwaitQuery; SawQuery is for asserting that one
// did not.
func (b *BIND) SawQuery(name, qtype string) bool {
	needle := " (" + strings.ToLower(strings.TrimSuffix(name, ".")) + "): query: "
	for _, line := range strings.Split(b.Log(), "\n") {
		l := strings.ToLower(line)
		if i := strings.Index(l, needle); i >= 0 && strings.Contains(l[i:], " in "+strings.ToLower(qtype)+" ") {
			return true
		}
	}
	return false
}

// AwaitQuery reports whether named logs a query for name and type within
// 10 s (at once when it already has), polling its log.
func (b *BIND) AwaitQuery(name, qtype string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !b.SawQuery(name, qtype) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling the log, not synchronising
	}
	return true
}
