// Command docgen writes what is generated from acmectl's cobra tree: the
// markdown command reference (docs/reference), man pages and shell
// completion scripts. `go generate ./...` refreshes docs/reference; the
// release (goreleaser's before hooks) and `make man` write the rest.
//
//	go run ./internal/docgen -reference docs/reference
//	go run ./internal/docgen -man dist/man -completions dist/completions
package main

//go:generate go run . -reference ../../docs/reference

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/acmectl/acmectl/cmd/cli"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("docgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ref := fs.String("reference", "", "write the markdown command reference to `DIR` (old *.md files there are replaced)")
	man := fs.String("man", "", "write man pages to `DIR`")
	comp := fs.String("completions", "", "write bash, zsh and fish completion scripts to `DIR`")
	version := fs.String("version", "", "version for the man pages' header")
	epoch := fs.String("date", "", "man page date as Unix seconds (default $SOURCE_DATE_EPOCH, else today)")
	gz := fs.Bool("gzip", false, "compress the man pages (NAME.1.gz, reproducible: no name or time in the header)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ref == "" && *man == "" && *comp == "" {
		return errors.New("nothing to do: give -reference, -man and/or -completions")
	}
	if *ref != "" {
		if err := WriteReference(*ref); err != nil {
			return err
		}
	}
	if *man != "" {
		if *epoch == "" {
			*epoch = os.Getenv("SOURCE_DATE_EPOCH")
		}
		if err := WriteManPages(*man, *version, *epoch); err != nil {
			return err
		}
		if *gz {
			if err := gzipManPages(*man); err != nil {
				return err
			}
		}
	}
	if *comp != "" {
		if err := WriteCompletions(*comp); err != nil {
			return err
		}
	}
	return nil
}

// tree builds the command tree with a fixed environment, so that the
// output does not depend on who runs the generator.
func tree() *cobra.Command {
	env := &cli.Env{
		Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
		Getenv:  func(string) string { return "" },
		Environ: func() []string { return nil },
		Now:     time.Now,
		Euid:    0,
		Version: "docs",
	}
	root := cli.NewRootCommand(env)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// WriteReference replaces the markdown reference in dir: one file per
// command, acmectl.md first.
func WriteReference(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "acmectl*.md"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	prepend := func(string) string {
		return "<!-- Generated from the command tree by `go generate ./internal/docgen`; do not edit. -->\n\n"
	}
	link := func(name string) string { return name }
	if err := doc.GenMarkdownTreeCustom(tree(), dir, prepend, link); err != nil {
		return fmt.Errorf("markdown reference: %w", err)
	}
	return nil
}

// WriteManPages writes section 1 man pages to dir. The date is epoch
// (Unix seconds) when set, for reproducible builds, else today.
func WriteManPages(dir, version, epoch string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	date := time.Now().UTC()
	if epoch != "" {
		sec, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("man page date %q: want Unix seconds: %w", epoch, err)
		}
		if sec > 0 { // goreleaser passes 0 or less when it knows no commit time
			date = time.Unix(sec, 0).UTC()
		}
	}
	source := "acmectl"
	if version != "" {
		source += " " + version
	}
	hdr := &doc.GenManHeader{Section: "1", Date: &date, Source: source, Manual: "acmectl manual"}
	if err := doc.GenManTree(tree(), hdr, dir); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	return nil
}

// WriteCompletions writes acmectl.bash, _acmectl (zsh) and acmectl.fish to
// dir, the same scripts `acmectl completion SHELL` prints.
func WriteCompletions(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range []struct{ shell, file string }{
		{"bash", "acmectl.bash"}, {"zsh", "_acmectl"}, {"fish", "acmectl.fish"},
	} {
		var out, errb bytes.Buffer
		env := &cli.Env{
			Args:  []string{"completion", c.shell},
			Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
			Getenv: func(string) string { return "" }, Environ: func() []string { return nil },
			Now: time.Now, Version: "docs",
		}
		if code := cli.Run(context.Background(), env); code != 0 {
			return fmt.Errorf("completion %s: exit %d: %s", c.shell, code, strings.TrimSpace(errb.String()))
		}
		if err := os.WriteFile(filepath.Join(dir, c.file), out.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// gzipManPages replaces every NAME.1 in dir with NAME.1.gz.
func gzipManPages(dir string) error {
	pages, err := filepath.Glob(filepath.Join(dir, "*.1"))
	if err != nil {
		return err
	}
	for _, p := range pages {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return err
		}
		if _, err := zw.Write(data); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(p+".gz", buf.Bytes(), 0o644); err != nil {
			return err
		}
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}
