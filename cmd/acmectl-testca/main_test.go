package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/acmectl/acmectl/internal/testenv"
)

func TestRefusesNonLoopback(t *testing.T) {
	dir := t.TempDir()
	var out, errb strings.Builder
	code := run(t.Context(), []string{"--listen", "0.0.0.0:0", "--http-01-port", "80",
		"--https-ca-out", filepath.Join(dir, "h.pem"), "--issuer-ca-out", filepath.Join(dir, "i.pem")}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "not on loopback") {
		t.Errorf("run = %d, stderr %q; want 2 and a loopback error", code, errb.String())
	}
	code = run(t.Context(), []string{"--http-01-port", "80", "--fault", "nope",
		"--https-ca-out", filepath.Join(dir, "h.pem"), "--issuer-ca-out", filepath.Join(dir, "i.pem")}, &out, &errb)
	if code != 2 {
		t.Errorf("unknown fault: run = %d; want 2", code)
	}
}

func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	out := &testenv.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--http-01-port", "5002", "--fault", "5xx",
			"--https-ca-out", filepath.Join(dir, "h.pem"), "--issuer-ca-out", filepath.Join(dir, "i.pem")}, out, io.Discard)
	}()
	testenv.WaitFor(t, "directory URL on stdout", 10*time.Second, func() error {
		if !strings.Contains(out.String(), "\n") {
			return errors.New("no line yet")
		}
		return nil
	})
	url := strings.TrimSpace(strings.SplitN(out.String(), "\n", 2)[0])
	if !strings.HasPrefix(url, "https://127.0.0.1:") || !strings.HasSuffix(url, "/directory") || strings.HasSuffix(url, ":0/directory") {
		t.Fatalf("first line %q", url)
	}
	hc := clientFor(t, filepath.Join(dir, "h.pem"))
	res, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 500 { // the --fault 5xx
		t.Errorf("first GET status %d; want 500 from --fault 5xx", res.StatusCode)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "i.pem")); err != nil || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Errorf("issuer root file: %v %q", err, b)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run = %d after cancel; want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func clientFor(t *testing.T, rootFile string) *http.Client {
	t.Helper()
	b, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("no certificate in HTTPS root file")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// TestMain runs the command's main instead of the tests when
// ACMECTL_TESTCA_MAIN=1, so TestBinarySIGTERM runs the command as a process
// without a go build of its own.
func TestMain(m *testing.M) {
	if os.Getenv("ACMECTL_TESTCA_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestBinarySIGTERM runs the command as a process and checks it exits 0 on
// SIGTERM.
func TestBinarySIGTERM(t *testing.T) {
	dir := t.TempDir()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "--listen", "127.0.0.1:0", "--dns-server", "127.0.0.1:53",
		"--https-ca-out", filepath.Join(dir, "h.pem"), "--issuer-ca-out", filepath.Join(dir, "i.pem"))
	cmd.Env = append(os.Environ(), "ACMECTL_TESTCA_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasSuffix(strings.TrimSpace(line), "/directory") {
		_ = cmd.Process.Kill()
		t.Fatalf("first line %q: %v", line, err)
	}
	res, err := clientFor(t, filepath.Join(dir, "h.pem")).Head(strings.TrimSpace(line))
	if err != nil || res.Header.Get("Replay-Nonce") == "" {
		t.Errorf("HEAD directory: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}
