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
// and each target that failed (whatever the verdict), a warning for each
// inconclusive check, and an error for a failed run that no target's
// annotation already explains. A sweep's checks and targets are those of
// every stage, named "STAGE: …" (its top level only mirrors one stage).
func annotations(e *env, res *result.Result) []byte {
	if e.Getenv(envGitHubActions) != "true" {
		return nil
	}
	var b bytes.Buffer
	cmd := func(level, msg string) {
		fmt.Fprintf(&b, "::%s title=infergate::%s\n", level, escapeData(msg))
	}
	type part struct {
		stage   string
		targets []result.Target
		checks  []result.Check
		err     string
	}
	parts := []part{{targets: res.Targets, checks: res.Checks}}
	if len(res.Stages) > 0 {
		parts = parts[:0]
		for _, st := range res.Stages {
			parts = append(parts, part{st.Name + ": ", st.Targets, st.Checks, st.Error})
		}
	}
	// explained are the failures annotated so far, so that the run's error,
	// which usually quotes one of them, is not annotated twice.
	var explained []string
	covered := func(msg string) bool {
		for _, x := range explained {
			if strings.Contains(msg, x) || strings.Contains(x, msg) {
				return true
			}
		}
		return false
	}
	for _, p := range parts {
		for _, t := range p.targets {
			if t.Failed == "" {
				continue
			}
			cmd("error", fmt.Sprintf("%sthe %s target %s failed: %s", p.stage, t.Role, t.Name, t.Failed))
			explained = append(explained, t.Failed)
		}
		if p.err != "" && !covered(p.err) {
			cmd("error", p.stage+"the run failed: "+p.err)
			explained = append(explained, p.err)
		}
		for _, c := range p.checks {
			switch c.Outcome {
			case result.OutcomeFail:
				cmd("error", p.stage+c.Name+" failed: "+c.Message)
			case result.OutcomeInconclusive:
				cmd("warning", p.stage+c.Name+" inconclusive: "+c.Message)
			}
		}
	}
	if res.Verdict == result.VerdictError || res.Error != "" {
		switch {
		case res.Error == "" && len(explained) == 0:
			cmd("error", "the run failed")
		case res.Error != "" && !covered(res.Error):
			cmd("error", "the run failed: "+res.Error)
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
