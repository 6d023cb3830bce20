package manual_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/acmectl/acmectl/challenges"
	"github.com/acmectl/acmectl/challenges/dns01"
	"github.com/acmectl/acmectl/challenges/dns01/manual"
	"github.com/acmectl/acmectl/challenges/dns01/rfc2136"
	"github.com/acmectl/acmectl/internal/testenv"
)

func TestRefusesWhenNotInteractive(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     manual.Config
		wantErr error
	}{
		{"no terminal", manual.Config{In: strings.NewReader(""), Out: io.Discard}, manual.ErrNotInteractive},
		{"terminal", manual.Config{In: strings.NewReader(""), Out: io.Discard, Interactive: true}, nil},
		{"continue-after", manual.Config{Out: io.Discard, ContinueAfter: time.Second}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := manual.New(tc.cfg)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("New = %v; want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "run acmectl on a terminal") {
				t.Errorf("error %q does not tell the user to use a terminal", err)
			}
		})
	}
}

func TestWaitRecordsCancelled(t *testing.T) {
	in, w := io.Pipe()
	defer w.Close()
	out := &testenv.SyncBuffer{}
	p, err := manual.New(manual.Config{In: in, Out: out, Interactive: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTXT(t.Context(), "_acme-challenge.a.test.", "v1"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.WaitRecords(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitRecords(cancelled) = %v; want context.Canceled", err)
	}
	// The records were not confirmed: a later wait asks again.
	done := make(chan error, 1)
	go func() { done <- p.WaitRecords(t.Context()) }()
	if _, err := io.WriteString(w, "\n"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitRecords after Enter = %v", err)
	}
	if n := strings.Count(out.String(), "Create these DNS TXT records"); n != 2 {
		t.Errorf("prompted %d times; want 2 (once cancelled, once answered)", n)
	}
}

// TestOrder runs a whole order's dns-01 flow with a person simulated on the
// injected reader: nothing is printed at Present, the first Wait prints
// both records of a wildcard + apex order at once, the person creates them
// in BIND and presses Enter, both Waits then pass the propagation check.
func TestOrder(t *testing.T) {
	b := testenv.StartBIND(t, testenv.Zone{Name: "plain.test"})
	in, w := io.Pipe()
	defer w.Close()
	out := &testenv.SyncBuffer{}
	p, err := manual.New(manual.Config{In: in, Out: out, Interactive: true})
	if err != nil {
		t.Fatal(err)
	}
	s := dns01.NewSolver(p, dns01.Options{
		RecursiveResolvers: []string{b.Addr},
		LookupNameserver:   func(context.Context, string) ([]string, error) { return []string{b.Addr}, nil },
		PropagationTimeout: 10 * time.Second,
		Logger:             slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	var chs []challenges.Challenge
	for _, wild := range []bool{true, false} {
		chs = append(chs, challenges.Challenge{
			Type: challenges.DNS01, Identifier: challenges.Identifier{Type: "dns", Value: "plain.test"}, Wildcard: wild,
			KeyAuthorization: fmt.Sprintf("token%v.thumb", wild),
		})
	}
	ctx := t.Context()
	for _, ch := range chs {
		if err := s.Present(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if out.String() != "" {
		t.Fatalf("Present printed %q; want nothing before Wait", out.String())
	}
	done := make(chan error, len(chs))
	for _, ch := range chs {
		go func() { done <- s.Wait(ctx, ch) }()
	}
	testenv.WaitFor(t, "both records printed", 5*time.Second, func() error {
		for _, ch := range chs {
			if !strings.Contains(out.String(), `_acme-challenge.plain.test. 60 IN TXT "`+ch.DNS01Value()+`"`) {
				return errors.New("not yet")
			}
		}
		return nil
	})
	if n := strings.Count(out.String(), "Create these DNS TXT records (2)"); n != 1 {
		t.Fatalf("output %q; want one prompt listing both records", out.String())
	}
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before Enter", err)
	default:
	}
	// The person creates the records, then presses Enter.
	key := rfc2136.TSIGKey{Name: b.KeyName, Algorithm: b.Algorithm, Secret: b.Secret}
	person, err := rfc2136.New(rfc2136.Config{Server: b.Addr, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chs {
		if err := person.SetTXT(ctx, ch.DNS01Name(), ch.DNS01Value()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = person.DeleteTXT(context.Background(), ch.DNS01Name(), ch.DNS01Value()) })
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		t.Fatal(err)
	}
	for range chs {
		if err := <-done; err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	for _, ch := range chs {
		if err := s.CleanUp(ctx, ch); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "You may now remove: _acme-challenge.plain.test. 60 IN TXT \""+ch.DNS01Value()) {
			t.Errorf("CleanUp did not tell the user to remove %s", ch.DNS01Value())
		}
	}
}

func TestContinueAfter(t *testing.T) {
	out := &testenv.SyncBuffer{}
	p, err := manual.New(manual.Config{Out: out, ContinueAfter: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetTXT(t.Context(), "_acme-challenge.a.test.", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitRecords(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "_acme-challenge.a.test. 60 IN TXT \"v1\"") || !strings.Contains(out.String(), "Continuing in 20ms") {
		t.Errorf("output %q lacks the record or the continue notice", out.String())
	}
	if err := p.WaitRecords(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "Create these"); n != 1 {
		t.Errorf("printed %d prompts; want 1 (nothing new the second time)", n)
	}
}
