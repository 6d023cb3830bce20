package exec_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dnsexec "github.com/acmectl/acmectl/challenges/dns01/exec"
	"github.com/acmectl/acmectl/internal/pathtrust/racetest"
)

func TestMain(m *testing.M) { racetest.Main(m) }

// TestRaceRenameExchange: a root-owned dns-exec program in a directory
// owned by uid 65534, who swaps it with their own program in a
// rename-exchange loop. Their program must never run; every run is refused.
func TestRaceRenameExchange(t *testing.T) {
	racetest.Skip(t)
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	marker := filepath.Join(base, "evil-ran")
	dir := filepath.Join(base, "bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "dns-hook")
	evil := filepath.Join(dir, "evil")
	if err := os.WriteFile(good, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(evil, []byte("#!/bin/sh\necho ran >> "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, evil} {
		if err := os.Chown(p, racetest.Nobody, racetest.Nobody); err != nil {
			t.Fatal(err)
		}
	}
	racetest.Swapper(t, good, evil)
	p, err := dnsexec.New(dnsexec.Config{Program: good, Environ: []string{"PATH=/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	const runs = 2000
	refused := 0
	for range runs {
		if err := p.SetTXT(t.Context(), "_acme-challenge.x.test.", "v"); errors.Is(err, dnsexec.ErrUnsafeProgram) {
			refused++
		}
	}
	if data, err := os.ReadFile(marker); err == nil {
		t.Fatalf("the other user's program ran as root %d times in %d runs", strings.Count(string(data), "\n"), runs)
	}
	if refused != runs {
		t.Errorf("%d of %d runs refused; want all", refused, runs)
	}
}

// TestRefusesRelativeProgram: a relative program path is refused before
// anything runs.
func TestRefusesRelativeProgram(t *testing.T) {
	p, err := dnsexec.New(dnsexec.Config{Program: "./dns-hook"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check(); !errors.Is(err, dnsexec.ErrUnsafeProgram) || !strings.Contains(err.Error(), "relative") {
		t.Fatalf("Check(./dns-hook) = %v; want ErrUnsafeProgram naming a relative path", err)
	}
}
