package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/infergate/infergate/report"
	"github.com/infergate/infergate/result"
)

// GitHub Actions integration. Everything is read through env.Getenv, so
// tests fake the runner with a temporary directory.
const (
	envGitHubActions = "GITHUB_ACTIONS"
	envStepSummary   = "GITHUB_STEP_SUMMARY"
	envGitHubOutput  = "GITHUB_OUTPUT"
	// maxStepSummary is GitHub's limit on one step's summary (1 MiB); a
	// larger one is not shown at all, so it is cut with a note instead.
	maxStepSummary = 1 << 20
)

// annotations are workflow commands for GitHub Actions, printed on stdout
// after the table when GITHUB_ACTIONS=true: an error for each failed check
// (and for a failed run), a warning for each inconclusive one.
func annotations(e *env, res *result.Result) []byte {
	if e.Getenv(envGitHubActions) != "true" {
		return nil
	}
	var b bytes.Buffer
	cmd := func(level, msg string) {
		fmt.Fprintf(&b, "::%s title=infergate::%s\n", level, escapeData(msg))
	}
	if res.Verdict == result.VerdictError {
		msg := "the run failed"
		if res.Error != "" {
			msg += ": " + res.Error
		}
		cmd("error", msg)
	}
	for _, c := range res.Checks {
		switch c.Outcome {
		case result.OutcomeFail:
			cmd("error", c.Name+" failed: "+c.Message)
		case result.OutcomeInconclusive:
			cmd("warning", c.Name+" inconclusive: "+c.Message)
		}
	}
	return b.Bytes()
}

// escapeData escapes a workflow command's message: %, CR and LF.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// publishGitHub appends the Markdown report to the step summary and the
// step's outputs to GITHUB_OUTPUT, when the runner provides them. A failure
// here is a warning: the verdict and the report files stand.
func publishGitHub(e *env, res *result.Result, out outputFlags) {
	if path := e.Getenv(envStepSummary); path != "" {
		var md bytes.Buffer
		err := report.NewMarkdown(res).Report(&md)
		if err == nil {
			err = appendFile(path, capSummary(md.Bytes(), maxStepSummary))
		}
		if err != nil {
			warnf(e, "step summary %s: %v", path, err)
		}
	}
	if path := e.Getenv(envGitHubOutput); path != "" {
		outputs := []struct{ name, value string }{
			{"verdict", string(res.Verdict)},
			{"result-json", absPath(out.JSONPath)},
			{"markdown", absPath(out.MarkdownPath)},
			{"junit", absPath(out.JUnitPath)},
			{"html", absPath(out.HTMLPath)},
			{"openmetrics", absPath(out.OpenMetricsPath)},
		}
		var b bytes.Buffer
		for _, o := range outputs {
			if err := writeOutput(&b, o.name, o.value); err != nil {
				warnf(e, "%s: %v", envGitHubOutput, err)
				return
			}
		}
		if err := appendFile(path, b.Bytes()); err != nil {
			warnf(e, "step outputs %s: %v", path, err)
		}
	}
}

// writeOutput writes one step output in the multiline form
// name<<ghadelimiter_<random> … ghadelimiter_<random>, so any value is
// safe, as @actions/core does.
func writeOutput(b *bytes.Buffer, name, value string) error {
	var rnd [16]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	delim := "ghadelimiter_" + hex.EncodeToString(rnd[:])
	if strings.Contains(name, delim) || strings.Contains(value, delim) {
		return fmt.Errorf("output %s contains its delimiter", name)
	}
	fmt.Fprintf(b, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
	return nil
}

// capSummary cuts a Markdown report to at most limit bytes, at a line
// boundary, with a note saying so.
func capSummary(md []byte, limit int) []byte {
	if len(md) <= limit {
		return md
	}
	const note = "\n\n> **Note:** infergate cut this summary at GitHub's 1 MiB limit; the full report is in the job's artifacts (`--markdown`, `--html`, `--json`).\n"
	keep := md[:limit-len(note)]
	if i := bytes.LastIndexByte(keep, '\n'); i > 0 {
		keep = keep[:i]
	}
	for len(keep) > 0 && !utf8.Valid(keep) {
		keep = keep[:len(keep)-1]
	}
	out := append(bytes.Clone(keep), note...)
	return out
}

func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// absPath is path made absolute (for a later step in another directory);
// empty stays empty.
func absPath(path string) string {
	if path == "" {
		return ""
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
