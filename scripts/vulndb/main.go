// Command vulndb builds the offline vulnerability database that `make
// vulncheck` points govulncheck at (-db file://DIR): the public database
// cannot be reached from the build machines, but the golang.org/x/vulndb
// module, served by the Go module proxy, carries every report as an OSV
// file (data/osv/GO-YYYY-NNNN.json). It writes the v1 layout govulncheck
// reads: index/db.json, index/modules.json, index/vulns.json and
// ID/<id>.json.
//
//	go run ./scripts/vulndb -osv "$(go mod download -json golang.org/x/vulndb@V | jq -r .Dir)/data/osv" -out DIR
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// entry is the part of an OSV record the index needs.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges []struct {
			Events []struct {
				Introduced string `json:"introduced,omitempty"`
				Fixed      string `json:"fixed,omitempty"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type vulnIndex struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type moduleIndex struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

func main() {
	osvDir := flag.String("osv", "", "directory of OSV JSON files (data/osv of golang.org/x/vulndb)")
	out := flag.String("out", "", "directory to write the database to")
	stamp := flag.String("modified", "", "the database's modification time (RFC 3339), e.g. the vulndb pseudo-version's date; default the newest report's")
	flag.Parse()
	if *osvDir == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "vulndb: -osv and -out are required")
		os.Exit(2)
	}
	var mod time.Time
	if *stamp != "" {
		var err error
		if mod, err = time.Parse(time.RFC3339, *stamp); err != nil {
			fmt.Fprintln(os.Stderr, "vulndb: -modified:", err)
			os.Exit(2)
		}
	}
	if err := build(*osvDir, *out, mod); err != nil {
		fmt.Fprintln(os.Stderr, "vulndb:", err)
		os.Exit(1)
	}
}

func build(osvDir, out string, stamp time.Time) error {
	files, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no OSV files in %s", osvDir)
	}
	for _, d := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	var (
		vulns    []vulnIndex
		modules  = map[string][]moduleVuln{}
		modified time.Time
	)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if e.ID == "" || strings.ContainsAny(e.ID, `/\`) {
			return fmt.Errorf("%s: bad id %q", f, e.ID)
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return err
		}
		vulns = append(vulns, vulnIndex{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		if e.Modified.After(modified) {
			modified = e.Modified
		}
		seen := map[string]bool{}
		for _, a := range e.Affected {
			p := a.Package.Name
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			fixed := ""
			for _, r := range a.Ranges {
				for _, ev := range r.Events {
					if ev.Fixed != "" {
						fixed = ev.Fixed // the last range's fix is the newest
					}
				}
			}
			modules[p] = append(modules[p], moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: fixed})
		}
	}
	if !stamp.IsZero() {
		modified = stamp
	}
	slices.SortFunc(vulns, func(a, b vulnIndex) int { return strings.Compare(a.ID, b.ID) })
	var mods []moduleIndex
	for p, vs := range modules {
		slices.SortFunc(vs, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
		mods = append(mods, moduleIndex{Path: p, Vulns: vs})
	}
	slices.SortFunc(mods, func(a, b moduleIndex) int { return strings.Compare(a.Path, b.Path) })
	for name, v := range map[string]any{"db": map[string]time.Time{"modified": modified}, "vulns": vulns, "modules": mods} {
		js, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "index", name+".json"), js, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("vulndb: %d reports, %d modules, modified %s\n", len(vulns), len(mods), modified.Format(time.RFC3339))
	return nil
}
