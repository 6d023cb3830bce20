// Package manual is a dns01.Provider for people: it collects the TXT
// records of an order and, at the first dns01.Solver.Wait, prints all of
// them at once and waits for the user to press Enter (or, in scripts, for a
// fixed time); the Solver then checks that they are served.
package manual

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/acmectl/acmectl/challenges/dns01"
)

// ErrNotInteractive is returned by New when there is no terminal to ask
// and no ContinueAfter.
var ErrNotInteractive = errors.New("manual: the manual DNS solver needs a person: run acmectl on a terminal (or set --manual-continue-after)")

// Config configures a Provider.
type Config struct {
	// In is read for the Enter key press (the terminal).
	In io.Reader
	// Out receives the records to create and remove (the terminal).
	Out io.Writer
	// Interactive says In and Out are a terminal with a person at it.
	Interactive bool
	// ContinueAfter, when positive, replaces waiting for Enter: after
	// printing the records, wait this long (--manual-continue-after).
	ContinueAfter time.Duration
	// TTL printed with the records (default 60s).
	TTL time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Provider collects records; see the package comment. It is safe for
// concurrent use.
type Provider struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // held while prompting, so concurrent Waits prompt once
	records []record   // in the order presented
	in      *bufio.Reader
	reading chan error // a pending read of In, kept across cancelled waits
}

type record struct {
	name, value string
	shown       bool
}

var (
	_ dns01.Provider     = (*Provider)(nil)
	_ dns01.RecordWaiter = (*Provider)(nil)
)

// New returns a Provider, or ErrNotInteractive when cfg is neither
// interactive nor has ContinueAfter. It does no I/O.
func New(cfg Config) (*Provider, error) {
	if cfg.Out == nil {
		return nil, errors.New("manual: no output configured")
	}
	if cfg.ContinueAfter <= 0 && (!cfg.Interactive || cfg.In == nil) {
		return nil, ErrNotInteractive
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 60 * time.Second
	}
	p := &Provider{cfg: cfg, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if cfg.In != nil {
		p.in = bufio.NewReader(cfg.In)
	}
	return p, nil
}

// SetTXT records that fqdn TXT value must be created. It prints nothing:
// WaitRecords prints all records at once.
func (p *Provider) SetTXT(_ context.Context, fqdn, value string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.records {
		if r.name == fqdn && r.value == value {
			return nil
		}
	}
	p.records = append(p.records, record{name: fqdn, value: value})
	return nil
}

// DeleteTXT forgets the record and, if the user was asked to create it,
// tells them they may remove it.
func (p *Provider) DeleteTXT(_ context.Context, fqdn, value string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range p.records {
		if r.name == fqdn && r.value == value {
			p.records = append(p.records[:i], p.records[i+1:]...)
			if r.shown {
				if _, err := fmt.Fprintf(p.cfg.Out, "You may now remove: %s\n", p.line(r)); err != nil {
					return fmt.Errorf("manual: %w", err)
				}
			}
			return nil
		}
	}
	return nil
}

func (p *Provider) line(r record) string {
	return fmt.Sprintf("%s %d IN TXT %s", r.name, int(p.cfg.TTL/time.Second), strconv.Quote(r.value))
}

// WaitRecords prints every record not yet shown, all at once, then waits
// for Enter on In, or ContinueAfter. Calls with nothing new to show return
// at once. It returns ctx.Err() if ctx ends first.
func (p *Provider) WaitRecords(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var show []int
	for i, r := range p.records {
		if !r.shown {
			show = append(show, i)
		}
	}
	if len(show) == 0 {
		return nil
	}
	msg := fmt.Sprintf("\nCreate these DNS TXT records (%d):\n\n", len(show))
	for _, i := range show {
		msg += "\t" + p.line(p.records[i]) + "\n"
	}
	if p.cfg.ContinueAfter > 0 {
		msg += fmt.Sprintf("\nContinuing in %v; acmectl then checks that the nameservers serve them.\n", p.cfg.ContinueAfter)
	} else {
		msg += "\nPress Enter when they are in place; acmectl then checks that the nameservers serve them.\n"
	}
	if _, err := io.WriteString(p.cfg.Out, msg); err != nil {
		return fmt.Errorf("manual: %w", err)
	}
	p.log.Info("waiting for manual dns records", "records", len(show))
	if err := p.wait(ctx); err != nil {
		return err
	}
	for _, i := range show {
		p.records[i].shown = true
	}
	return nil
}

func (p *Provider) wait(ctx context.Context) error {
	if p.cfg.ContinueAfter > 0 {
		t := time.NewTimer(p.cfg.ContinueAfter)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	if p.reading == nil {
		ch := make(chan error, 1)
		p.reading = ch
		go func() {
			_, err := p.in.ReadString('\n')
			ch <- err
		}()
	}
	select {
	case <-ctx.Done():
		return ctx.Err() // the read stays pending for the next call
	case err := <-p.reading:
		p.reading = nil
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("manual: input closed before Enter was pressed")
			}
			return fmt.Errorf("manual: read input: %w", err)
		}
		return nil
	}
}
