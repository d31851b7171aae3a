package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
)

// initOptions are the flags of `infergate init`.
type initOptions struct {
	Candidate  string
	Production string
	Dataset    string
	Dir        string
	Force      bool
	ORTLib     string
}

func newInitCmd(e *env) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init --candidate MODEL.onnx --dataset TEST.parquet",
		Short: "Write infergate.yaml and a GitHub Actions workflow for a model and its test set",
		Long: `init inspects the model's inputs and the test set's columns, and writes
infergate.yaml (the bindings it inferred, sensible checks, reports, with
comments) and .github/workflows/infergate.yml (the gate on every pull
request: the pull request's model against the base branch's). It never
overwrites a file without --force.

In a model repository the candidate and production are usually the same
path (the pull request's copy and the base branch's); --production
defaults to --candidate.`,
		Example: `  infergate init --candidate models/model.onnx --dataset data/test.parquet
  infergate init --candidate new.onnx --production prod.onnx --dataset test.parquet --force`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInit(cmd.Context(), e, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Candidate, "candidate", "", "the model (ONNX) the gate will judge (required)")
	fs.StringVar(&o.Production, "production", "", "the production model (default: the candidate's path, as checked out from the base branch)")
	fs.StringVar(&o.Dataset, "dataset", "", "the Parquet test set (required)")
	fs.StringVar(&o.Dir, "dir", ".", "the repository root to write into")
	fs.BoolVar(&o.Force, "force", false, "overwrite existing files")
	fs.StringVar(&o.ORTLib, "ort-lib", "", "ONNX Runtime library to read the models' inputs with (default: as for run)")
	return cmd
}

// Where init writes, relative to --dir.
const (
	initConfigPath   = defaultConfigName
	initWorkflowPath = ".github/workflows/infergate.yml"
)

func runInit(ctx context.Context, e *env, o *initOptions) error {
	if o.Candidate == "" || o.Dataset == "" {
		return errkind.Input(errors.New("give the model and the test set: --candidate MODEL.onnx --dataset TEST.parquet"))
	}
	if o.Production == "" {
		o.Production = o.Candidate
	}
	files := []string{filepath.Join(o.Dir, initConfigPath), filepath.Join(o.Dir, initWorkflowPath)}
	if !o.Force {
		for _, f := range files {
			if _, err := os.Stat(f); err == nil {
				return errkind.Input(fmt.Errorf("%s exists: leave it, or give --force to overwrite it", f))
			}
		}
	}
	lib, err := libraryPath(o.ORTLib, e.Getenv)
	if err != nil {
		return err
	}
	ds, err := loader.Open(o.Dataset, loader.ReadOptions{})
	if err != nil {
		return err
	}
	defer ds.Close()
	worker, err := e.workerCommand()
	if err != nil {
		return err
	}
	var bindings []modelBinding
	paths := []string{o.Production, o.Candidate}
	if o.Production == o.Candidate {
		paths = paths[:1]
	}
	for _, p := range paths {
		t, err := bench.StartONNX(ctx, bench.ONNXConfig{
			Name: filepath.Base(p), ModelPath: p, LibPath: lib,
			Worker: worker,
		})
		if err != nil {
			return err // it names the model (or the library) already
		}
		inputs := t.Info().Inputs
		t.Close()
		bindings = append(bindings, inferBinding(ds, p, inputs))
	}
	config := renderConfig(o, ds, bindings)
	workflow := renderWorkflow(o)
	for i, content := range []string{config, workflow} {
		if err := os.MkdirAll(filepath.Dir(files[i]), 0o755); err != nil {
			return errkind.Input(err)
		}
		if err := writeFileAtomic(files[i], []byte(content)); err != nil {
			return errkind.Input(fmt.Errorf("write %s: %w", files[i], err))
		}
		fmt.Fprintf(e.Stdout, "wrote %s\n", files[i])
	}
	for _, b := range bindings {
		if len(b.unbound) > 0 {
			fmt.Fprintf(e.Stdout, "check %s: no column found for %s (see the TODO in it)\n", files[0], strings.Join(b.unbound, ", "))
		}
	}
	fmt.Fprintf(e.Stdout, "next: infergate run (reads %s), then commit both files\n", initConfigPath)
	return nil
}

// modelBinding is what init found for one model: how each input binds.
type modelBinding struct {
	model   string
	inputs  []loader.InputSpec
	lines   []string          // one comment per input: how it binds
	mapped  map[string]string // inputs bound to a differently named column
	unbound []string
}

// inferBinding binds a model's inputs to the test set's columns: by name,
// else by a name that differs only in case or punctuation. What still does
// not bind is left for the user, named.
func inferBinding(ds *loader.Dataset, model string, inputs []loader.InputSpec) modelBinding {
	mb := modelBinding{model: model, inputs: inputs, mapped: map[string]string{}}
	cols := ds.Columns()
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' || r == '-' || r == '.' || r == ' ' {
				return -1
			}
			return r
		}, strings.ToLower(s))
	}
	for _, in := range inputs {
		col := ""
		for _, c := range cols {
			if c.Name == in.Name {
				col = c.Name
				break
			}
		}
		if col == "" {
			for _, c := range cols {
				if norm(c.Name) == norm(in.Name) {
					col = c.Name
					mb.mapped[in.Name] = c.Name
					break
				}
			}
		}
		desc := fmt.Sprintf("%s %s%v", in.Name, in.DType, in.Shape)
		switch {
		case col == "":
			mb.unbound = append(mb.unbound, in.Name)
			mb.lines = append(mb.lines, fmt.Sprintf("%s: no column of that name (TODO: bind it with input-map, or feed it with fill)", desc))
		case col == in.Name:
			mb.lines = append(mb.lines, fmt.Sprintf("%s ← column %s (by name)", desc, col))
		default:
			mb.lines = append(mb.lines, fmt.Sprintf("%s ← column %s (names differ: mapped below)", desc, col))
		}
	}
	// The whole binding must hold as the run will make it.
	if len(mb.unbound) == 0 {
		if _, err := loader.NewBinding(ds, inputs, loader.BindOptions{InputMap: mb.mapped}); err != nil {
			mb.lines = append(mb.lines, "TODO: the columns do not bind as they are: "+firstLine(err.Error()))
			mb.unbound = append(mb.unbound, "(see the TODO)")
		}
	}
	return mb
}

func renderConfig(o *initOptions, ds *loader.Dataset, bindings []modelBinding) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# yaml-language-server: $schema=https://raw.githubusercontent.com/infergate/infergate/main/docs/infergate.schema.json\n")
	w("#\n# infergate's settings for this repository, written by `infergate init`.\n")
	w("# Every key is a flag of `infergate run` without the dashes; a flag on the\n")
	w("# command line overrides it. `infergate run` in this directory reads it.\n\n")
	w("dataset: %s\n", yamlString(o.Dataset))
	w("production: %s\n", yamlString(o.Production))
	w("candidate: %s\n", yamlString(o.Candidate))
	var cols []string
	all := ds.Columns()
	const shown = 8
	for _, c := range all[:min(len(all), shown)] {
		cols = append(cols, c.Name+" "+c.Type)
	}
	if len(all) > shown {
		cols = append(cols, fmt.Sprintf("and %d more", len(all)-shown))
	}
	w("\n# The test set: %d rows; columns: %s.\n", ds.NumRows(), strings.Join(cols, ", "))
	mapped := map[string]string{}
	for _, mb := range bindings {
		w("# Inputs of %s:\n", mb.model)
		for _, l := range mb.lines {
			w("#   %s\n", l)
		}
		for k, v := range mb.mapped {
			mapped[k] = v
		}
	}
	if len(mapped) > 0 {
		w("input-map:\n")
		for _, k := range slices.Sorted(maps.Keys(mapped)) {
			w("  %s: %s\n", yamlString(k), yamlString(mapped[k]))
		}
	}
	for _, mb := range bindings {
		for _, in := range mb.unbound {
			if !strings.HasPrefix(in, "(") {
				w("# input-map: {%s: COLUMN}   # TODO\n", in)
			}
		}
	}
	w(`
# The checks. Ratios are candidate / production; the run stops as soon as
# every check is decided, and says "inconclusive" when it cannot tell.
max-latency-increase: 1.15
latency-percentile: p50 # p95 or p99 for tail latency, on quiet machines
max-memory-increase: 1.2
max-error-rate: 0

# How to measure: a sequential plan within a budget. One intra-op thread
# keeps the numbers steady on small shared CI runners.
max-duration: 120s
intra-op-threads: 1
on-inconclusive: warn # fail to make an undecided check fail the job

# Reports besides the table on stdout.
json: infergate-reports/result.json
markdown: infergate-reports/report.md
`)
	return b.String()
}

// yamlString quotes s when YAML would read it as something else.
func yamlString(s string) string {
	if s == "" || strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`\n") || strings.TrimSpace(s) != s {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func renderWorkflow(o *initOptions) string {
	prod := o.Production
	if o.Production == o.Candidate {
		prod = "base/" + o.Candidate
	}
	return fmt.Sprintf(`# Written by infergate init. The gate on every pull request: the pull
# request's model is the candidate, the base branch's the production model.
# The job fails on a regression (exit 1), bad input (2) or a failed run (3);
# the Markdown report is the job's summary and a sticky comment.
name: model gate

on:
  pull_request:

permissions:
  contents: read
  pull-requests: write

concurrency:
  group: model-gate-${{ github.event.pull_request.number }}
  cancel-in-progress: true

jobs:
  gate:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - name: Check out the pull request
        uses: actions/checkout@v4
        with:
          lfs: true

      - name: Check out the base branch (the production model)
        uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.base.sha }}
          path: base
          lfs: true

      - name: Gate the candidate
        id: gate
        uses: infergate/infergate@v1
        with:
          candidate: %s
          production: %s
          dataset: %s
          # The checks and the plan come from infergate.yaml.
          args: --config %s
`, yamlString(o.Candidate), yamlString(prod), yamlString(o.Dataset), initConfigPath)
}
