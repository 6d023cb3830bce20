// Command acmectl is a command-line ACME client (RFC 8555 and legacy v1).
package main

import (
	"os"

	"github.com/acmectl/acmectl/cmd/cli"
)

// version is stamped by the release build (-X main.version=...).
var version = ""

func main() {
	os.Exit(cli.Main(cli.OSEnv(version)))
}
