//go:build !unix

package testenv

import "os"

// terminate is how a server is asked to stop; where there are no Unix
// signals, it is killed.
var terminate = os.Kill
