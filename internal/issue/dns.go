package issue

import (
	"fmt"

	"github.com/acmectl/acmectl/client"
	"github.com/acmectl/acmectl/internal/store"
)

// dnsSolver builds the dns-01 solver of the settings (wired in dns01 work).
func (e *Engine) dnsSolver(d store.DNSSettings) ([]client.SolverChoice, error) {
	return nil, fmt.Errorf("dns-01 provider %q: not available in this build yet", d.Provider)
}

// namedSolver builds a solver named in the config.
func (e *Engine) namedSolver(name string, cfg map[string]string) ([]client.SolverChoice, error) {
	return nil, fmt.Errorf("named solver %q: not available in this build yet", name)
}
