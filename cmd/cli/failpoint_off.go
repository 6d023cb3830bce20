//go:build !acmectl_failpoints

package cli

import "context"

// osFailpoint: release builds have no failpoints.
func osFailpoint(func(string) string) func(context.Context, string) { return nil }
