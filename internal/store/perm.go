package store

import (
	"errors"
	"io/fs"
	"os"

	"github.com/acmectl/acmectl/internal/pathtrust"
)

// checkTrusted refuses path (the state dir, settings.yaml, state.json)
// unless it and every directory above it can be changed only by root or
// the running user (package pathtrust): a settings.yaml another user could
// write names hooks that acmectl runs as root. A missing path passes (the
// read that follows reports it).
func checkTrusted(path string, want pathtrust.Kind) error {
	_, err := pathtrust.Check(path, os.Getuid(), want)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// readTrusted is readFileLimit after checkTrusted.
func readTrusted(path string, limit int64) ([]byte, error) {
	if err := checkTrusted(path, pathtrust.Regular); err != nil {
		return nil, err
	}
	return readFileLimit(path, limit)
}
