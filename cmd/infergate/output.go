package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/report"
	"github.com/infergate/infergate/result"
)

// writeReports renders the terminal table on stdout and writes the JSON
// result file. The table is rendered in full before it is written, so
// stdout never holds half a report.
func writeReports(e *env, res *result.Result, jsonPath string) error {
	if jsonPath != "" {
		var buf bytes.Buffer
		if err := report.NewJSON(res).Report(&buf); err != nil {
			return errkind.Run(err)
		}
		if err := writeFileAtomic(jsonPath, buf.Bytes()); err != nil {
			return errkind.Input(fmt.Errorf("--json %s: %w", jsonPath, err))
		}
	}
	var buf bytes.Buffer
	if err := report.NewTable(res).Report(&buf); err != nil {
		return errkind.Run(err)
	}
	if _, err := e.Stdout.Write(buf.Bytes()); err != nil {
		return errkind.Run(fmt.Errorf("write report: %w", err))
	}
	return nil
}

// writeFileAtomic writes through a temporary file and a rename, so a killed
// run never leaves half a result for a later compare to trust.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Chmod(name, 0o644); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// checkWritable fails early, before anything is measured, when an output
// file could not be written later.
func checkWritable(flag, path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errkind.Input(fmt.Errorf("--%s %s: %w", flag, path, err))
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return errkind.Input(fmt.Errorf("--%s %s is a directory", flag, path))
	}
	f, err := os.CreateTemp(dir, ".infergate-check-*")
	if err != nil {
		return errkind.Input(fmt.Errorf("--%s %s: cannot write there: %w", flag, path, err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}
