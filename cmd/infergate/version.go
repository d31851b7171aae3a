package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/internal/ortlib"
)

// Stamped at build time (see the Makefile's LDFLAGS and .goreleaser.yaml):
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=1a2b3c4 -X main.date=2026-11-27T09:00:00Z"
//
// Unstamped, commit and date come from the VCS information the go command
// records (vcs.revision, vcs.time), and version from the module version
// `go install …@v1.2.3` records.
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// buildInfo is what infergate knows about its own build.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go"`
	Platform  string `json:"platform"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if b.Commit == "" {
				b.Commit = s.Value
			}
		case "vcs.time":
			if b.Date == "" {
				b.Date = s.Value
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if commit == "" && b.Commit != "" {
		if len(b.Commit) > 7 {
			b.Commit = b.Commit[:7]
		}
		if modified {
			b.Commit += "-dirty"
		}
	}
	return b
}

// String is the version line: "v0.3.0 (commit 1a2b3c4, built …, go1.26.8, linux/amd64)".
func (b buildInfo) String() string {
	var parts []string
	if b.Commit != "" {
		parts = append(parts, "commit "+b.Commit)
	}
	if b.Date != "" {
		parts = append(parts, "built "+b.Date)
	}
	parts = append(parts, b.GoVersion, b.Platform)
	return fmt.Sprintf("%s (%s)", b.Version, strings.Join(parts, ", "))
}

// ortInfo is the ONNX Runtime library a local run would use.
type ortInfo struct {
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
	// Pinned: the library's SHA-256 is the one `make ort` verifies
	// (nil: not checked, the file could not be read).
	Pinned *bool  `json:"sha256_matches_pin,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (o ortInfo) String() string {
	switch {
	case o.Path == "":
		return fmt.Sprintf("ONNX Runtime: not found (run `make ort`, or point --ort-lib or %s at libonnxruntime.so %s)", ortlib.EnvVar, ortlib.Version)
	case o.Error != "":
		return fmt.Sprintf("ONNX Runtime: cannot load %s: %s", o.Path, o.Error)
	}
	s := fmt.Sprintf("ONNX Runtime %s at %s", o.Version, o.Path)
	if o.Pinned != nil {
		if *o.Pinned {
			s += " (SHA-256 matches the pin)"
		} else {
			s += fmt.Sprintf(" (not the pinned %s build: SHA-256 differs)", ortlib.Version)
		}
	}
	return s
}

// findORT locates the library as run and bench do, and asks it its version
// in this process: version is short-lived, and loading never runs a model.
func findORT(flag string, getenv func(string) string) ortInfo {
	p, err := libraryPath(flag, getenv)
	if p == "" {
		_ = err // not found: the String says how to get one
		return ortInfo{}
	}
	o := ortInfo{Path: p}
	if sum, err := fileSHA256(p); err == nil {
		pinned := sum == ortlib.SHA256
		o.Pinned = &pinned
	} else {
		o.Error = err.Error()
		return o
	}
	o.Version, err = loadORTVersion(p)
	if err != nil {
		o.Error = firstLine(err.Error())
	}
	return o
}

// loadORTVersion loads the library, asks its version and unloads it. A
// library that is already loaded (a worker in this process) answers as is.
func loadORTVersion(path string) (v string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if ort.IsInitialized() {
		return ort.GetVersion(), nil
	}
	if st, err := os.Stat(path); err != nil {
		return "", err
	} else if st.IsDir() {
		return "", fmt.Errorf("is a directory")
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return "", err
	}
	defer ort.DestroyEnvironment()
	return ort.GetVersion(), nil
}

func newVersionCmd(e *env) *cobra.Command {
	var ortLib string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print infergate's version, commit and the ONNX Runtime it finds",
		Long: `version prints infergate's version, the commit it was built from and the
ONNX Runtime library that run, bench and calibrate would use (--ort-lib,
else $ONNXRUNTIME_LIB, else the cache that ` + "`make ort`" + ` fills), with that
library's own version and whether it is the pinned build. It is
informational: it exits 0 even when no library is found or it cannot be
loaded.`,
		Example: `  infergate version
  infergate version --ort-lib /opt/onnxruntime-gpu/lib/libonnxruntime.so
  infergate version --json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, o := currentBuild(), findORT(ortLib, e.Getenv)
			if asJSON {
				enc := json.NewEncoder(e.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					buildInfo
					ONNXRuntime ortInfo `json:"onnxruntime"`
				}{b, o})
			}
			_, err := fmt.Fprintf(e.Stdout, "infergate %s\n%s\n", b, o)
			return err
		},
	}
	cmd.Flags().StringVar(&ortLib, "ort-lib", "", "ONNX Runtime shared library (default: $ONNXRUNTIME_LIB, then the cache that `make ort` fills)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the same facts as JSON")
	return cmd
}
