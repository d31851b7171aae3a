package actiontest

import (
	"errors"
	"os"
	"os/exec"
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
	for _, in := range []string{"candidate", "production", "candidate-url", "production-url", "dataset", "max-latency-increase", "latency-percentile",
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
	// A role is a file or an endpoint: neither input alone is required.
	for _, in := range []string{"candidate", "production", "candidate-url", "production-url"} {
		if a.Inputs[in].Required {
			t.Errorf("input %s is required; a role may be given by its file or its URL", in)
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

// actionStep is the step of action.yml with this name.
func actionStep(t *testing.T, name string) Step {
	t.Helper()
	a, err := ParseAction(read(t, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Runs.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("action.yml has no step %q", name)
	return Step{}
}

// runScript runs a step's script as GitHub runs a `shell: bash` step
// (bash --noprofile --norc -eo pipefail FILE) in dir, with the step's env
// names set to the values given (unset ones empty) and nothing else of
// this process's environment but PATH. It returns the output and the exit
// code.
func runScript(t *testing.T, s Step, dir string, env map[string]string) (string, int) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	file := filepath.Join(t.TempDir(), "step.sh")
	if err := os.WriteFile(file, []byte(s.Run), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", file)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for name := range s.Env {
		cmd.Env = append(cmd.Env, name+"="+env[name])
	}
	for name, v := range env {
		if _, ok := s.Env[name]; !ok {
			cmd.Env = append(cmd.Env, name+"="+v)
		}
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatal(err)
	return "", -1
}

// TestActionRoleInputs: each role needs its model file or its endpoint
// URL, exactly one; the check fails the job with exit 2 and an error
// annotation naming the inputs, before anything is set up.
func TestActionRoleInputs(t *testing.T) {
	check := actionStep(t, "Check the inputs")
	a, err := ParseAction(read(t, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Runs.Steps[0].Name != check.Name {
		t.Errorf("the first step is %q; the inputs are checked first", a.Runs.Steps[0].Name)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		code int
		want []string
	}{
		{"two files", map[string]string{"IG_CANDIDATE": "new.onnx", "IG_PRODUCTION": "old.onnx"}, 0, nil},
		{"file against an endpoint", map[string]string{"IG_CANDIDATE": "new.onnx", "IG_PRODUCTION_URL": "https://m/v2/models/r"}, 0, nil},
		{"two endpoints", map[string]string{"IG_CANDIDATE_URL": "grpc://c:8001/r", "IG_PRODUCTION_URL": "https://m/v2/models/r"}, 0, nil},
		{"no candidate", map[string]string{"IG_PRODUCTION": "old.onnx"}, 2,
			[]string{"::error title=infergate::no candidate model: set the candidate input (an ONNX file) or candidate-url (an endpoint)"}},
		{"neither role", nil, 2, []string{"no candidate model", "no production model"}},
		{"production twice", map[string]string{"IG_CANDIDATE": "new.onnx", "IG_PRODUCTION": "old.onnx", "IG_PRODUCTION_URL": "https://m/v2/models/r"}, 2,
			[]string{"::error title=infergate::both production and production-url are set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runScript(t, check, t.TempDir(), tc.env)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.code == 0 && out != "" {
				t.Errorf("good inputs, yet output:\n%s", out)
			}
		})
	}
}

// TestActionGateArguments runs the gate step with a stand-in for
// infergate that records its arguments: an endpoint input becomes its
// --…-url flag, args are split on whitespace and never evaluated (a
// header's $VAR reaches infergate as written, for infergate to expand),
// and a failing gate still writes its exit code for the last step.
func TestActionGateArguments(t *testing.T) {
	gate := actionStep(t, "Run infergate")
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	fake := filepath.Join(dir, "infergate")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argsFile + "\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	outputs := filepath.Join(dir, "github-output")
	const token = "tok-never-in-the-log"
	out, code := runScript(t, gate, dir, map[string]string{
		"INFERGATE_BIN":         fake,
		"IG_CANDIDATE_URL":      "https://staging/v2/models/ranker",
		"IG_PRODUCTION":         "models/prod.onnx",
		"IG_DATASET":            "data/test.parquet",
		"IG_LATENCY_PERCENTILE": "p95",
		"IG_MAX_ERROR_RATE":     "1%",
		"IG_ARGS":               "--header Authorization:$MODEL_TOKEN  --concurrency 4",
		"IG_REPORTS":            "reports",
		"GITHUB_OUTPUT":         outputs,
		"MODEL_TOKEN":           token,
	})
	if code != 0 {
		t.Fatalf("gate step exit %d (it passes infergate's code on instead):\n%s", code, out)
	}
	b, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatalf("infergate was not run: %v\n%s", err, out)
	}
	args := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	joined := " " + strings.Join(args, " ") + " "
	for _, want := range []string{
		" --candidate-url https://staging/v2/models/ranker ", " --production models/prod.onnx ",
		" --dataset data/test.parquet ", " --max-error-rate 1% ",
		" --header Authorization:$MODEL_TOKEN --concurrency 4 ",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("arguments lack %q: %q", want, args)
		}
	}
	if slices.Contains(args, "--candidate") || slices.Contains(args, "--production-url") || slices.Contains(args, "--max-p99-increase") {
		t.Errorf("arguments for inputs not given: %q", args)
	}
	if strings.Contains(string(b)+out, token) {
		t.Errorf("the token was expanded by the shell")
	}
	o, _ := os.ReadFile(outputs)
	if !strings.Contains(string(o), "exit-code=1\n") || !strings.Contains(string(o), "reports-dir="+filepath.Join(dir, "reports")+"\n") {
		t.Errorf("GITHUB_OUTPUT:\n%s", o)
	}
}
