//go:build unix

package store

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// tryLock opens dir/base (creating it 0600) and tries a non-blocking
// exclusive flock. Held by someone else: nil unlock and the file's content.
func tryLock(dir, base string) (unlock func(), holder []byte, err error) {
	if err := ensureDir(dir); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, base)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, filePerm)
	if err != nil {
		return nil, nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		buf := make([]byte, 256)
		n, _ := f.ReadAt(buf, 0)
		f.Close()
		return nil, buf[:n], nil
	}
	if err != nil {
		f.Close()
		return nil, nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	// Record the holder; failure to do so does not lose the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(formatHolder(os.Getpid(), time.Now()), 0)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = f.Truncate(0)
			_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		})
	}, nil, nil
}
