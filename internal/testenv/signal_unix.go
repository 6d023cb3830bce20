//go:build unix

package testenv

import "syscall"

const terminate = syscall.SIGTERM
