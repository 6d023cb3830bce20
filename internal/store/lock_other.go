//go:build !unix

package store

import "errors"

func tryLock(dir, base string) (unlock func(), holder []byte, err error) {
	return nil, nil, errors.New("file locks are only supported on unix")
}
