package cli

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use: "version",
		Example: `  acmectl version
  acmectl --version
  acmectl version --json`,
		Short: "Print acmectl's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), a, &versionOptions{}, a.runVersion)
		},
	}
}

// versionOptions: version takes the global options only.
type versionOptions struct{}

func (a *app) runVersion(context.Context, *versionOptions) error {
	if a.g.json {
		return a.writeJSON(map[string]any{"version": a.env.Version, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH})
	}
	fmt.Fprintf(a.env.Stdout, "acmectl %s (%s, %s/%s)\n", a.env.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// addVersionFlag gives the root command --version, printing "acmectl
// VERSION". cobra's own flag (Command.Version) prints "acmectl version
// VERSION" unless given a text/template (SetVersionTemplate), and a linked
// text/template execution looks methods up by name, which makes the linker
// keep every exported method of every type in the binary: 2.4 MB more
// binary, all of it mapped by every run (docs/dev/performance.md; test:
// cmd/acmectl TestNoMethodLookupByName). As with cobra's flag, a root
// command without Run answers --version through the help path.
func addVersionFlag(root *cobra.Command, version string) {
	if version == "" {
		return
	}
	root.Flags().Bool("version", false, "version for acmectl")
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		v, _ := c.Flags().GetBool("version")
		h, _ := c.Flags().GetBool("help")
		if v && !h && !c.HasParent() {
			fmt.Fprintf(c.OutOrStdout(), "acmectl %s\n", version)
			return
		}
		help(c, args)
	})
}
