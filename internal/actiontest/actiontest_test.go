package actiontest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const root = "../.."

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestActionRunBlocks: no ${{ }} in any run: of action.yml, and every run
// step of the composite action names its shell (composite actions require
// it).
func TestActionRunBlocks(t *testing.T) {
	a, err := ParseAction(read(t, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Runs.Using != "composite" || len(a.Runs.Steps) == 0 {
		t.Fatalf("runs.using %q with %d steps", a.Runs.Using, len(a.Runs.Steps))
	}
	for _, bad := range ExpressionInRun("action.yml", a.Runs.Steps) {
		t.Error(bad)
	}
	runs := 0
	for _, s := range a.Runs.Steps {
		if s.Run == "" {
			continue
		}
		runs++
		if s.Shell == "" {
			t.Errorf("action.yml: step %q has run: but no shell:", stepName(s))
		}
	}
	if runs < 4 {
		t.Errorf("only %d run steps parsed; is the YAML read right?", runs)
	}
}

// TestActionContract: the inputs the README documents exist, every input
// an expression uses is declared, the outputs are those infergate writes
// to GITHUB_OUTPUT, and the default ONNX Runtime is the one
// scripts/fetch-ort.sh provisions.
func TestActionContract(t *testing.T) {
	data := read(t, "action.yml")
	a, err := ParseAction(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"candidate", "production", "dataset", "max-latency-increase", "latency-percentile",
		"max-p99-increase", "min-throughput-ratio", "max-memory-increase", "max-error-rate", "args",
		"onnxruntime-version", "comment-on-pr", "working-directory"} {
		if _, ok := a.Inputs[in]; !ok {
			t.Errorf("input %s is missing", in)
		}
	}
	for _, ref := range InputRefs(data) {
		if _, ok := a.Inputs[ref]; !ok {
			t.Errorf("an expression uses inputs.%s, which is not declared", ref)
		}
	}
	for _, out := range []string{"verdict", "result-json", "markdown", "junit", "html"} {
		o, ok := a.Outputs[out]
		if !ok || o.Value != "${{ steps.gate.outputs."+out+" }}" {
			t.Errorf("output %s = %q, want the gate step's output of that name", out, o.Value)
		}
	}
	if a.Inputs["comment-on-pr"].Default != "true" {
		t.Errorf("comment-on-pr defaults to %q", a.Inputs["comment-on-pr"].Default)
	}
	m := regexp.MustCompile(`(?m)^ORT_VERSION="([^"]+)"`).FindSubmatch(read(t, "scripts/fetch-ort.sh"))
	if m == nil {
		t.Fatal("no ORT_VERSION in scripts/fetch-ort.sh")
	}
	if got := a.Inputs["onnxruntime-version"].Default; got != string(m[1]) {
		t.Errorf("onnxruntime-version defaults to %s, fetch-ort.sh provisions %s", got, m[1])
	}
	// The last step exits with infergate's code.
	last := a.Runs.Steps[len(a.Runs.Steps)-1]
	if !strings.Contains(last.Run, `exit "$CODE"`) || last.Env["CODE"] != "${{ steps.gate.outputs.exit-code }}" {
		t.Errorf("last step does not exit with infergate's code: %+v", last)
	}
}

// TestWorkflowRunBlocks: the example workflows keep the same rule.
func TestWorkflowRunBlocks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "examples", "workflows", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		w, err := ParseWorkflow(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(w.Jobs) == 0 {
			t.Errorf("%s: no jobs", f)
		}
		for job, j := range w.Jobs {
			for _, bad := range ExpressionInRun(filepath.Base(f)+" job "+job, j.Steps) {
				t.Error(bad)
			}
		}
	}
	for _, want := range []string{"pr-gate.yml", "nightly.yml", "matrix-merge.yml", "comment-from-fork.yml"} {
		if !slices.Contains(names, want) {
			t.Errorf("examples/workflows lacks %s (has %v)", want, names)
		}
	}
}

// TestCatchesExpressions: the checks find what they are for, in block and
// plain scalars alike, and leave env: and with: alone.
func TestCatchesExpressions(t *testing.T) {
	a, err := ParseAction([]byte(`
inputs:
  x: {description: x}
runs:
  using: composite
  steps:
    - name: fine
      shell: bash
      env: {X: "${{ inputs.x }}"}
      run: echo "$X"
    - name: block
      shell: bash
      run: |
        echo hi
        echo ${{ inputs.x }}
    - name: plain
      shell: bash
      run: echo ${{ github.event.pull_request.title }}
`))
	if err != nil {
		t.Fatal(err)
	}
	bad := ExpressionInRun("test", a.Runs.Steps)
	if len(bad) != 2 || !strings.Contains(bad[0], "block") || !strings.Contains(bad[1], "plain") {
		t.Errorf("found %q, want the block and plain steps", bad)
	}
	if refs := InputRefs([]byte("${{ inputs.max-p99 }} and ${{ inputs.args }}")); !slices.Equal(refs, []string{"max-p99", "args"}) {
		t.Errorf("InputRefs = %q", refs)
	}
}
