package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// isFleetFlag reports the global flags that matter only with shared
// storage (--storage etcd://...): help lists them apart so that they do
// not bury a command's own flags.
func isFleetFlag(name string) bool {
	return name == "storage" || strings.HasPrefix(name, "storage-") || strings.HasPrefix(name, "etcd-")
}

// usage prints a command's help: its own flags first, then the global
// flags, then the fleet flags in a section of their own.
func usage(c *cobra.Command) error {
	w := c.OutOrStderr()
	fmt.Fprintf(w, "Usage:\n")
	if c.Runnable() {
		fmt.Fprintf(w, "  %s\n", c.UseLine())
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "  %s [command]\n", c.CommandPath())
	}
	if len(c.Aliases) > 0 {
		fmt.Fprintf(w, "\nAliases:\n  %s\n", c.NameAndAliases())
	}
	if c.HasExample() {
		fmt.Fprintf(w, "\nExamples:\n%s\n", c.Example)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nAvailable Commands:\n")
		width := 0
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() || s.Name() == "help" {
				width = max(width, len(s.Name()))
			}
		}
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() || s.Name() == "help" {
				fmt.Fprintf(w, "  %-*s  %s\n", width, s.Name(), s.Short)
			}
		}
	}
	own := c.LocalFlags()
	if c.HasParent() {
		own = c.NonInheritedFlags()
	}
	global, fleet := splitFleet(c.InheritedFlags())
	if !c.HasParent() {
		// The root's own flags are the global ones.
		own, fleet = splitFleet(c.LocalFlags())
		printFlags(w, "Global Flags", own)
	} else {
		printFlags(w, "Flags", own)
		printFlags(w, "Global Flags", global)
	}
	printFlags(w, "Fleet Flags (shared storage: --storage etcd://...)", fleet)
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nUse \"%s [command] --help\" for more information about a command.\n", c.CommandPath())
	}
	return nil
}

// splitFleet returns fs's flags without and with the fleet ones.
func splitFleet(fs *pflag.FlagSet) (rest, fleet *pflag.FlagSet) {
	rest = pflag.NewFlagSet("rest", pflag.ContinueOnError)
	fleet = pflag.NewFlagSet("fleet", pflag.ContinueOnError)
	fs.VisitAll(func(f *pflag.Flag) {
		if isFleetFlag(f.Name) {
			fleet.AddFlag(f)
		} else {
			rest.AddFlag(f)
		}
	})
	return rest, fleet
}

func printFlags(w io.Writer, title string, fs *pflag.FlagSet) {
	if u := fs.FlagUsages(); strings.TrimSpace(u) != "" {
		fmt.Fprintf(w, "\n%s:\n%s", title, strings.TrimRight(u, " \n")+"\n")
	}
}
