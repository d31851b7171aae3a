// Package ortlib locates the pinned ONNX Runtime shared library and
// initializes onnxruntime_go once per process.
//
// The library is provisioned by scripts/fetch-ort.sh (make ort) into
//
//	${INFERGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/infergate}/onnxruntime/<Version>/libonnxruntime.so.1
//
// and an explicit path can always be given with the ONNXRUNTIME_LIB
// environment variable.
package ortlib

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Version is the ONNX Runtime release whose C API onnxruntime_go v1.27.0
// targets, and the one scripts/fetch-ort.sh installs.
const Version = "1.24.3"

// SHA256 is the hex SHA-256 of the library scripts/fetch-ort.sh installs
// (linux/x64, from npm's onnxruntime-node package of Version).
const SHA256 = "92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682"

// EnvVar names the environment variable that overrides the library path.
const EnvVar = "ONNXRUNTIME_LIB"

// LibName is the file name of the library inside the cache directory.
const LibName = "libonnxruntime.so.1"

// ErrNotFound is returned (wrapped) by Find when no library is available.
var ErrNotFound = errors.New("ONNX Runtime shared library not found")

// CacheDir returns infergate's cache directory:
// $INFERGATE_CACHE, else $XDG_CACHE_HOME/infergate, else
// $HOME/.cache/infergate.
func CacheDir() (string, error) {
	if d := os.Getenv("INFERGATE_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "infergate"), nil
	}
	home := os.Getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil || home == "" {
			return "", fmt.Errorf("cannot determine cache directory: set INFERGATE_CACHE, XDG_CACHE_HOME or HOME")
		}
	}
	return filepath.Join(home, ".cache", "infergate"), nil
}

// CachePath returns where scripts/fetch-ort.sh installs the library. The
// file may not exist.
func CachePath() (string, error) {
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "onnxruntime", Version, LibName), nil
}

// Find returns the ONNX Runtime library to load: $ONNXRUNTIME_LIB if set
// (it must exist), else the cache path if the file exists. The error wraps
// ErrNotFound when neither is available.
func Find() (string, error) {
	if p := os.Getenv(EnvVar); p != "" {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrNotFound, EnvVar, p, err)
		}
		if st.IsDir() {
			return "", fmt.Errorf("%w: %s=%s is a directory", ErrNotFound, EnvVar, p)
		}
		return p, nil
	}
	p, err := CachePath()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	st, err := os.Stat(p)
	if err != nil || st.IsDir() {
		return "", fmt.Errorf("%w: not at %s (run `make ort` or scripts/fetch-ort.sh, or set %s)", ErrNotFound, p, EnvVar)
	}
	return p, nil
}

var (
	initMu   sync.Mutex
	initPath string
)

// Init loads the library at libPath and initializes the onnxruntime_go
// environment. It is safe to call many times and from many goroutines: the
// environment is created once per process. If something else already
// initialized onnxruntime_go, Init returns nil. Calling it again with a
// different path after a successful init returns an error, because ONNX
// Runtime cannot be loaded twice.
func Init(libPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if ort.IsInitialized() {
		if initPath != "" && libPath != "" && initPath != libPath {
			return fmt.Errorf("onnxruntime already initialized from %s, cannot switch to %s", initPath, libPath)
		}
		return nil
	}
	ort.SetSharedLibraryPath(libPath)
	if err := ort.InitializeEnvironment(); err != nil {
		if ort.IsInitialized() {
			return nil
		}
		return fmt.Errorf("initialize onnxruntime from %s: %w", libPath, err)
	}
	initPath = libPath
	return nil
}
