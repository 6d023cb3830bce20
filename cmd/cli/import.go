package cli

import "github.com/spf13/cobra"

func newImportCmd(a *app) *cobra.Command { return notImplemented("import", "Adopt certificates of certbot or lego") }
