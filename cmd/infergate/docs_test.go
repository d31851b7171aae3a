package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/cli and docs/man from the commands' help (make docs)")

// manDate is the date in the man pages' headers: fixed, so that the pages
// change only when the help does.
var manDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// docsRoot is the command tree the reference describes, with cobra's
// completion command (added lazily on Execute) and no generated-on line.
func docsRoot() *cobra.Command {
	root := newRootCmd(&env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return root
}

// renderDocs writes the Markdown reference into dir/cli and the man pages
// into dir/man.
func renderDocs(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{"cli", "man"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := doc.GenMarkdownTree(docsRoot(), filepath.Join(dir, "cli")); err != nil {
		t.Fatal(err)
	}
	header := &doc.GenManHeader{Title: "INFERGATE", Section: "1", Source: "infergate", Manual: "infergate manual", Date: &manDate}
	if err := doc.GenManTree(docsRoot(), header, filepath.Join(dir, "man")); err != nil {
		t.Fatal(err)
	}
}

// TestCLIDocs: docs/cli and docs/man are what the commands' help renders
// to. After changing a command or flag, regenerate them with `make docs`.
func TestCLIDocs(t *testing.T) {
	repo := filepath.Join("..", "..", "docs")
	if *updateDocs {
		for _, sub := range []string{"cli", "man"} {
			if err := os.RemoveAll(filepath.Join(repo, sub)); err != nil {
				t.Fatal(err)
			}
		}
		renderDocs(t, repo)
		return
	}
	tmp := t.TempDir()
	renderDocs(t, tmp)
	const fix = "run `make docs` (go test ./cmd/infergate -run TestCLIDocs -update-docs)"
	for _, sub := range []string{"cli", "man"} {
		want := readTree(t, filepath.Join(tmp, sub))
		got := readTree(t, filepath.Join(repo, sub))
		for name, w := range want {
			g, ok := got[name]
			switch {
			case !ok:
				t.Errorf("docs/%s/%s is missing: %s", sub, name, fix)
			case g != w:
				t.Errorf("docs/%s/%s is out of date (first difference at line %d): %s", sub, name, firstDiffLine(g, w), fix)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("docs/%s/%s describes no command: %s", sub, name, fix)
			}
		}
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(data)
	}
	return files
}

func firstDiffLine(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}

// TestCompletionScripts: `infergate completion SHELL` writes a script for
// each shell cobra supports.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		var out, errOut bytes.Buffer
		e := &env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
		if code := execute(t.Context(), e, []string{"completion", shell}); code != ExitPass {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errOut.String())
		}
		if out.Len() == 0 || !strings.Contains(out.String(), "infergate") {
			t.Errorf("completion %s: %d bytes, no mention of infergate", shell, out.Len())
		}
	}
}

// TestFlagCompletion: enumerated flags complete to their values, and model
// and dataset flags to files of their extension.
func TestFlagCompletion(t *testing.T) {
	complete := func(args ...string) string {
		var out bytes.Buffer
		e := &env{Stdout: &out, Stderr: &bytes.Buffer{}, Getenv: func(string) string { return "" }}
		execute(t.Context(), e, append([]string{cobra.ShellCompRequestCmd}, args...))
		return out.String()
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--device", ""}, []string{"cpu", "cuda", "tensorrt"}},
		{[]string{"bench", "--on-inconclusive", ""}, []string{"pass", "warn", "fail"}},
		{[]string{"compare", "--latency-percentile", ""}, []string{"p95", "p99.9"}},
		{[]string{"run", "--protocol", ""}, []string{"kserve-rest"}},
		{[]string{"calibrate", "--graph-optimization", ""}, []string{"disable", "all"}},
		{[]string{"bench", "--arrival", ""}, []string{"constant", "poisson"}},
		{[]string{"run", "--tf-format", ""}, []string{"instances", "inputs"}},
		{[]string{"run", "--dataset", ""}, []string{"parquet", ":8"}}, // 8: ShellCompDirectiveFilterFileExt
		{[]string{"run", "--candidate", ""}, []string{"onnx", ":8"}},
		{[]string{"bench", "--model", ""}, []string{"onnx", ":8"}},
		{[]string{"report", ""}, []string{"json", ":8"}},
	} {
		got := complete(c.args...)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("complete %q: %q lacks %q", c.args, got, w)
			}
		}
	}
}

// TestVersion: the version command prints the build and exits 0 even when
// the ONNX Runtime library cannot be loaded; --version has no -v.
func TestVersion(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "libonnxruntime.so")
	if err := os.WriteFile(bad, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	e := &env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	if code := execute(t.Context(), e, []string{"version", "--ort-lib", bad}); code != ExitPass {
		t.Fatalf("version: exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "infergate ") || !strings.Contains(out.String(), "ONNX Runtime: cannot load "+bad) {
		t.Errorf("version printed %q", out.String())
	}
	out.Reset()
	if code := execute(t.Context(), e, []string{"--version"}); code != ExitPass || !strings.HasPrefix(out.String(), "infergate ") {
		t.Errorf("--version: exit %d, %q", code, out.String())
	}
	if code := execute(t.Context(), e, []string{"-v"}); code != ExitBadInput {
		t.Errorf("-v: exit %d, want %d (no shorthand)", code, ExitBadInput)
	}
}
