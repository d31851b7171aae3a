package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/infergate/infergate/internal/kservetest"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

var (
	updateREADME = flag.Bool("update-readme", false, "rewrite README.md's troubleshooting section from TestBadInput's table")
	knownBugs    = flag.Bool("known-bugs", false, "run TestBadInput's rows marked knownBug too (they fail until the bug is fixed)")
)

// badInput is one row of TestBadInput: a bad input, what infergate must
// answer (exit code and a fragment of its one line on stderr), and what
// the user should do about it (the README's troubleshooting section is
// rendered from these).
type badInput struct {
	name     string
	category string // files, flags, bindings, library, endpoints, saved
	// args builds the command line; dir is the row's own temporary
	// directory.
	args func(t *testing.T, dir string) []string
	// env overrides the environment infergate reads.
	env map[string]string
	// ort: the row loads a model, so it needs the real ONNX Runtime.
	ort bool
	// corpus: the row reads ../shared/parquet-testing.
	corpus bool
	// serial: the row changes the process environment (t.Setenv), so it
	// cannot run in parallel with the others.
	serial bool
	// nonRoot: the row relies on file permissions, which root ignores.
	nonRoot bool
	code    ExitCode
	// want is a fragment of stderr; the README shows it as the symptom
	// unless symptom is set.
	want    string
	symptom string
	// report: a report legitimately goes to stdout (a run that failed
	// after it started, a warning beside a verdict); then only the last
	// line of stderr is held to the one-line contract.
	report bool
	// advice is one sentence: what the user should do.
	advice string
	// knownBug, when set, skips the row: infergate does not yet behave as
	// the row asserts, for the reason given.
	knownBug string
}

// nullOrTextForTensor is a bench of a KServe endpoint whose float input x
// is bound to a column with a null at row 1, or (text) to a text column.
func nullOrTextForTensor(text bool) func(*testing.T, string) []string {
	return func(t *testing.T, dir string) []string {
		s := sumServer(t, kservetest.Faults{}, func(o *kservetest.Options) {
			o.Model = &kservetest.SumModel{In: []kservetest.TensorMeta{{Name: "x", Datatype: "FP32", Shape: []int64{-1}}}}
		})
		path := writeTestParquet(t, dir, "x.parquet", []arrow.Field{
			{Name: "x", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
			{Name: "text", Type: arrow.BinaryTypes.String},
		}, func(b *array.RecordBuilder) {
			for i := range 3 {
				if i == 1 {
					b.Field(0).AppendNull()
				} else {
					b.Field(0).(*array.Float32Builder).Append(float32(i))
				}
				b.Field(1).(*array.StringBuilder).Append("t")
			}
		})
		args := []string{"bench", "--url", s.ModelURL(), "--dataset", path, "--requests", "6", "--rounds", "2", "--warmup", "2", "--quiet"}
		if text {
			args = append(args, "--input-map", "x=text")
		}
		return args
	}
}

// fixed is args that need no setup.
func fixed(args ...string) func(*testing.T, string) []string {
	return func(*testing.T, string) []string { return args }
}

// local is a short run of two local models that passes unless extra breaks it.
func local(extra ...string) func(*testing.T, string) []string {
	return fixed(runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", extra...)...)
}

// endpoints is a short run of two endpoints on a closed port: every row
// that uses it must be refused before anything connects.
func endpoints(extra ...string) func(*testing.T, string) []string {
	return fixed(append([]string{"run", "--production-url", "http://127.0.0.1:1/v2/models/x",
		"--candidate-url", "http://127.0.0.1:1/v2/models/y", "--dataset", td("mlp.parquet"), "--quiet",
		"--requests", "50", "--rounds", "2", "--warmup", "5"}, extra...)...)
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func corpusDir() string { return filepath.Join("..", "..", "..", "shared", "parquet-testing") }

// savedDoc writes a bench result of one model, changed by edit.
func savedDoc(t *testing.T, dir, name string, edit func(*result.Result)) string {
	t.Helper()
	r := benchDoc(t, 1, 4, time.Millisecond)
	if edit != nil {
		edit(r)
	}
	return writeDoc(t, dir, name, r)
}

func withAuth(o *kservetest.Options) {
	o.RequireHeader = [2]string{"Authorization", "Bearer right-token"}
}

func badInputs() []badInput {
	const (
		datasetAdvice = "Check the --dataset path; relative paths start from the working directory."
		ratioAdvice   = "Give a ratio greater than 0, such as `1.15` or `115%`."
	)
	return []badInput{
		// ---- files ----
		{name: "missing dataset", category: "files", ort: true, args: local("--dataset", td("nope.parquet")),
			code: ExitBadInput, want: "file not found", symptom: "dataset …: file not found", advice: datasetAdvice},
		{name: "dataset not parquet", category: "files", ort: true, args: local("--dataset", td("not_parquet.parquet")),
			code: ExitBadInput, want: "is not a parquet file", advice: "Write the test set as Parquet (pandas `to_parquet`, pyarrow `write_table`); CSV and JSON are not read."},
		{name: "empty dataset", category: "files", ort: true, args: fixed("bench", "--model", td("mlp_base.onnx"), "--dataset", td("empty.parquet"), "--quiet"),
			code: ExitBadInput, want: "has no rows", advice: "Point --dataset at a file with rows; check the export that wrote it."},
		{name: "corrupt parquet", category: "files", ort: true, corpus: true,
			args: func(t *testing.T, _ string) []string {
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--dataset", filepath.Join(corpusDir(), "bad_data", "PARQUET-1481.parquet"))
			},
			code: ExitBadInput, want: "corrupt or unsupported parquet", advice: "Rewrite the file with a current writer (pyarrow `pq.write_table`); a truncated upload or a non-standard writer is the usual cause."},
		{name: "dataset is a directory", category: "files", ort: true,
			args: func(t *testing.T, dir string) []string {
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--dataset", dir)
			},
			code: ExitBadInput, want: "is a directory, not a parquet file", advice: "Give one Parquet file; merge a partitioned dataset into one file first."},
		{name: "missing model", category: "files", ort: true, args: fixed(runArgs("nope.onnx", "mlp_base.onnx", "mlp.parquet")...),
			code: ExitBadInput, want: "nope.onnx", symptom: "model …: no such file", advice: "Check the --candidate / --production path (in CI: that the model was checked out or downloaded)."},
		{name: "model is a directory", category: "files", ort: true,
			args: func(t *testing.T, dir string) []string {
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--candidate", dir)
			},
			code: ExitBadInput, want: "is a directory, not a file", advice: "Give the `.onnx` file itself, not the folder it is in."},
		{name: "unreadable model", category: "files", ort: true, nonRoot: true,
			args: func(t *testing.T, dir string) []string {
				p := filepath.Join(dir, "locked.onnx")
				b, err := os.ReadFile(td("mlp_same.onnx"))
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, p, string(b), 0o000)
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--candidate", p)
			},
			code: ExitBadInput, want: "permission denied", advice: "Make the model readable by the user infergate runs as."},
		{name: "corrupt model", category: "files", ort: true, args: fixed(runArgs("corrupt.onnx", "mlp_base.onnx", "mlp.parquet")...),
			code: ExitBadInput, want: "cannot load", symptom: "model …: cannot load: … Protobuf parsing failed", advice: "Re-export the model; a Git LFS pointer or a truncated download is the usual cause (check its size)."},
		{name: "corrupt production model in calibrate", category: "files", ort: true,
			args: fixed("calibrate", "--production", td("corrupt.onnx"), "--dataset", td("mlp.parquet"), "--quiet", "--requests", "50", "--rounds", "2"),
			code: ExitBadInput, want: "cannot load"},
		{name: "--json under a file", category: "files",
			args: func(t *testing.T, dir string) []string {
				f := writeFile(t, filepath.Join(dir, "file"), "x", 0o644)
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--json", filepath.Join(f, "x.json"))
			},
			code: ExitBadInput, want: "not a directory", symptom: "--json …: mkdir …: not a directory", advice: "Pick a report path whose folders are folders (missing ones are created)."},
		{name: "--json is a directory", category: "files",
			args: func(t *testing.T, dir string) []string {
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--json", dir)
			},
			code: ExitBadInput, want: "is a directory", symptom: "--json … is a directory", advice: "Give a file name, not a folder, to each report flag."},
		{name: "two reports into one file", category: "files",
			args: func(t *testing.T, dir string) []string {
				p := filepath.Join(dir, "r")
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--json", p, "--markdown", p)
			},
			code: ExitBadInput, want: "both write", symptom: "--json and --markdown both write …", advice: "Give each report flag its own file."},
		{name: "--json in an unwritable directory", category: "files", nonRoot: true,
			args: func(t *testing.T, dir string) []string {
				ro := filepath.Join(dir, "ro")
				if err := os.Mkdir(ro, 0o555); err != nil {
					t.Fatal(err)
				}
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--json", filepath.Join(ro, "x.json"))
			},
			code: ExitBadInput, want: "cannot write there", advice: "Write reports into a directory the job can write to, such as the workspace."},

		// ---- flags ----
		{name: "unknown flag", category: "flags", args: local("--max-latency-increas", "1.1"),
			code: ExitBadInput, want: "unknown flag", advice: "Check the spelling against `infergate COMMAND --help`."},
		{name: "unknown command", category: "flags", args: fixed("rnu"),
			code: ExitBadInput, want: "unknown command", advice: "Use one of run, bench, calibrate, compare, merge, report."},
		{name: "no --dataset", category: "flags", args: fixed("run", "--candidate", td("mlp_same.onnx"), "--production", td("mlp_base.onnx")),
			code: ExitBadInput, want: "no test set", advice: "Add `--dataset FILE.parquet`."},
		{name: "no production", category: "flags", args: fixed("run", "--candidate", td("mlp_same.onnx"), "--dataset", td("mlp.parquet")),
			code: ExitBadInput, want: "no production model", advice: "Add `--production PROD.onnx` (or `--production-url`); for one model use `infergate bench`."},
		{name: "bench without a model", category: "flags", args: fixed("bench", "--dataset", td("mlp.parquet")),
			code: ExitBadInput, want: "give one model", advice: "Add `--model FILE.onnx` or `--url ENDPOINT`."},
		{name: "calibrate without production", category: "flags", args: fixed("calibrate", "--dataset", td("mlp.parquet")),
			code: ExitBadInput, want: "no production model"},
		{name: "--candidate and --model-path", category: "flags", args: local("--model-path", td("mlp_same.onnx")),
			code: ExitBadInput, want: "not both", symptom: "give --candidate or --model-path, not both", advice: "Keep one of the two names for the same flag."},
		{name: "--max-latency-increase abc", category: "flags", args: local("--max-latency-increase", "abc"),
			code: ExitBadInput, want: "want a ratio greater than 0", advice: ratioAdvice},
		{name: "--max-latency-increase 0", category: "flags", args: local("--max-latency-increase", "0"),
			code: ExitBadInput, want: "want a ratio greater than 0", advice: ratioAdvice},
		{name: "--max-latency-increase -1", category: "flags", args: local("--max-latency-increase", "-1"),
			code: ExitBadInput, want: "want a ratio greater than 0", advice: ratioAdvice},
		{name: "--latency-percentile p101", category: "flags", args: local("--latency-percentile", "p101"),
			code: ExitBadInput, want: "want a percentile between 0 and 100", advice: "Use `p50`, `p90`, `p95`, `p99` or `p99.9`."},
		{name: "--confidence 1.5", category: "flags", args: local("--confidence", "1.5"),
			code: ExitBadInput, want: "--confidence 1.5: want a level in [0.5, 1)", symptom: "--confidence …: want a level in [0.5, 1)", advice: "Give a level such as `0.95` or `0.99`."},
		{name: "--on-inconclusive maybe", category: "flags", args: local("--on-inconclusive", "maybe"),
			code: ExitBadInput, want: "want pass, warn or fail", advice: "Use `pass`, `warn` or `fail`."},
		{name: "--warmup xyz", category: "flags", args: local("--warmup", "xyz"),
			code: ExitBadInput, want: "--warmup \"xyz\": want a number of requests", symptom: "--warmup …: want a number of requests (200) or a duration (5s)", advice: "Use `auto`, a request count (`200`) or a duration (`5s`)."},
		{name: "--requests -5", category: "flags", args: local("--requests", "-5"),
			code: ExitBadInput, want: "must not be negative", advice: "Give a count of 0 or more (0: the flag's default)."},
		{name: "--requests and --duration", category: "flags", args: local("--duration", "5s"),
			code: ExitBadInput, want: "give --requests or --duration, not both", advice: "Keep one: a fixed request count or a fixed time."},
		{name: "--batch-size 0", category: "flags", args: local("--batch-size", "0"),
			code: ExitBadInput, want: "need at least 1", advice: "Give 1 or more rows per call."},
		{name: "--size-buckets 1", category: "flags", args: local("--size-buckets", "1"),
			code: ExitBadInput, want: "--size-buckets 1: want 2 to 20 buckets", advice: "Give 2 to 20 input-size buckets (default 5)."},
		{name: "--nulls maybe", category: "flags", args: local("--nulls", "maybe"),
			code: ExitBadInput, want: `invalid argument "maybe" for "--nulls" flag: want refuse or fill`},
		{name: "--rows -1", category: "flags", args: local("--rows", "-1"),
			code: ExitBadInput, want: "--rows -1: must not be negative"},
		{name: "--concurrency-sweep bad list", category: "flags", args: local("--concurrency-sweep", "1,x,4"),
			code: ExitBadInput, want: "is not a positive whole number", advice: "Give a comma-separated list of whole numbers, such as `1,2,4,8`."},
		{name: "--rate without endpoints", category: "flags", ort: true, args: local("--rate", "100"),
			code: ExitBadInput, want: "--rate drives endpoints", advice: "Drop --rate for local models (they run a closed loop), or give `--production-url` / `--candidate-url`."},
		{name: "--graph-optimization foo", category: "flags", args: local("--graph-optimization", "foo"),
			code: ExitBadInput, want: "want one of disable, basic, extended, all", advice: "Use `disable`, `basic`, `extended` or `all`."},
		{name: "--max-memory lots", category: "flags", args: local("--max-memory", "lots"),
			code: ExitBadInput, want: "want a positive size such as 2GiB", advice: "Give a size such as `4GiB` or `512MiB`."},
		{name: "--max-memory for endpoints", category: "flags", args: endpoints("--max-memory", "4GiB"),
			code: ExitBadInput, want: "--max-memory caps local models' workers", advice: "Drop --max-memory for endpoints: the server's memory is its own (watch it with --server-pid)."},
		{name: "--worker-timeout 0", category: "flags", args: local("--worker-timeout", "0s"),
			code: ExitBadInput, want: "--worker-timeout 0s: must be positive", advice: "Give a duration such as `10m`: the longest one request to a worker may take."},
		{name: "--server-metrics not a URL", category: "flags", args: endpoints("--server-metrics", "localhost:8002/metrics"),
			code: ExitBadInput, want: "want an http(s) URL", advice: "Give the metrics URL with its scheme, e.g. `http://localhost:8002/metrics`."},
		{name: "endpoint flag for local models", category: "flags", args: local("--tf-format", "inputs"),
			code: ExitBadInput, want: "--tf-format applies to endpoints", advice: "Drop endpoint flags (--protocol, --header, --timeout, …) when both models are local files."},
		{name: "--device gpu", category: "flags", args: local("--device", "gpu"),
			code: ExitBadInput, want: "want cpu, cuda[:N] or tensorrt[:N]", advice: "Use `cpu`, `cuda`, `cuda:1` or `tensorrt`."},
		{name: "--provider-option on cpu", category: "flags", args: local("--provider-option", "cudnn_conv_algo_search=HEURISTIC"),
			code: ExitBadInput, want: "give --device cuda or tensorrt", advice: "Add `--device cuda` (with the GPU build of ONNX Runtime), or drop --provider-option."},
		{name: "--max-gpu-memory-increase on cpu", category: "flags", ort: true, args: local("--max-gpu-memory-increase", "1.3"),
			code: ExitBadInput, want: "GPU memory is not measured", advice: "Run the models with `--device cuda`, or watch endpoints with `--server-pid` / `--server-metrics`."},
		{name: "--input-map without =", category: "flags", args: local("--input-map", "features"),
			code: ExitBadInput, want: "want INPUT=COLUMN", advice: "Write `--input-map input=column` (or `input=c1,c2` or `input=f*`)."},
		{name: "--input-map names no input", category: "flags", ort: true, args: local("--input-map", "featurs=features"),
			code: ExitBadInput, want: "no model has an input named", advice: "Use an input name from the list in the message (the model's, not the column's, is on the left)."},
		{name: "--fill bad value", category: "flags", args: local("--fill", "features=banana"),
			code: ExitBadInput, want: "is neither \"zeros\" nor a number", advice: "Fill with `zeros`, a number, or `zeros[2,1,128]` for a shape."},
		{name: "--fill names no input", category: "flags", ort: true, args: local("--fill", "nosuch=zeros"),
			code: ExitBadInput, want: "--fill nosuch: no model has an input named nosuch"},
		{name: "--output-map without =", category: "flags", args: local("--output-map", "scores"),
			code: ExitBadInput, want: "want CANDIDATE=PRODUCTION output names", advice: "Write `--output-map candidate_output=production_output`."},
		{name: "--output-map names no output", category: "flags", ort: true, args: local("--output-map", "y=scores"),
			code: ExitBadInput, want: "the candidate has no output", advice: "Use an output name from the list in the message; the candidate's comes first."},
		{name: "--header without a colon", category: "flags", args: endpoints("--header", "NoColon"),
			code: ExitBadInput, want: "want 'Name: value'", advice: "Write `--header 'Name: value'`, quoted so the shell keeps it one argument."},
		{name: "--header with an unset variable", category: "flags", args: endpoints("--header", "Authorization: Bearer $INFERGATE_SURELY_UNSET_VAR"),
			code: ExitBadInput, want: "environment variable INFERGATE_SURELY_UNSET_VAR is not set", symptom: "--header …: environment variable … is not set",
			advice: "Export the variable in the step's environment (in Actions: `env:` from a secret)."},
		{name: "--protocol bogus", category: "flags", args: endpoints("--protocol", "bogus"),
			code: ExitBadInput, want: "want one of kserve-rest, kserve-grpc, tfserving, http", advice: "Use `kserve-rest`, `kserve-grpc`, `tfserving` or `http`, or leave it out to infer it from the URL."},
		{name: "--protocol bogus with local models", category: "flags", args: local("--protocol", "bogus"),
			code: ExitBadInput, want: "--protocol"},
		{name: "--arrival weird", category: "flags", args: endpoints("--arrival", "weird"),
			code: ExitBadInput, want: "want constant or poisson", advice: "Use `constant` or `poisson` (with `--rate`)."},
		{name: "--tf-format x", category: "flags", args: endpoints("--tf-format", "x"),
			code: ExitBadInput, want: "want instances or inputs", advice: "Use `instances` (rows) or `inputs` (columns)."},
		{name: "--server-pid without endpoints", category: "flags", args: local("--server-pid", "123"),
			code: ExitBadInput, want: "--server-pid watches an endpoint's server", advice: "Use --server-pid with `--production-url` / `--candidate-url`; local models are watched without it."},

		// ---- bindings ----
		{name: "input with no column", category: "bindings", ort: true, args: fixed(runArgs("seq.onnx", "seq.onnx", "mlp.parquet")...),
			code: ExitBadInput, want: "no column named input_ids", symptom: "model input …: no column named …",
			advice: "Bind the input with `--input-map input=column`, or feed it with `--fill input=zeros`."},
		{name: "lossy column type", category: "bindings", ort: true, args: fixed(runArgs("cast_int32.onnx", "cast_int32.onnx", "types.parquet", "--input-map", "x=x_f32")...),
			code: ExitBadInput, want: "values would change", symptom: "column …: float32 does not fit model input … int32; values would change",
			advice: "Write the column in the model's input type (cast it when exporting the test set)."},
		{name: "integer value out of the input's range", category: "bindings", ort: true, args: fixed(runArgs("cast_uint8.onnx", "cast_uint8.onnx", "types.parquet", "--input-map", "x=x_i64")...),
			code: ExitBadInput, want: "column x_i64 row 0: -9 does not fit model input x uint8 (which holds 0 to 255); values would change",
			symptom: "column … row …: … does not fit model input … (which holds …); values would change",
			advice:  "Integer columns are checked value by value: fix or drop the row named, or export the column in the model's input type."},
		{name: "column of the wrong shape", category: "bindings", ort: true, args: fixed(runArgs("mlp_same.onnx", "mlp_base.onnx", "types.parquet", "--input-map", "features=x_f32")...),
			code: ExitBadInput, want: "x_f32"},
		{name: "null in a tensor input", category: "bindings", args: nullOrTextForTensor(false),
			code: ExitBadInput, want: "column x row 1 is null; add --nulls fill", symptom: "column … row … is null; add --nulls fill",
			advice: "Clean the column, or add `--nulls fill` to send `--pad-value` (false for bool) in its place; errors on those rows then count under the input class `null`."},
		{name: "text column for a tensor input", category: "bindings", args: nullOrTextForTensor(true),
			code: ExitBadInput, want: "column text has type utf8 (text); model input x takes float32 tensors", symptom: "column … has type utf8 (text); model input … takes … tensors",
			advice: "Send text through an HTTP JSON endpoint (`--protocol http --request-template`), or bind the input to a numeric column with `--input-map`."},

		// ---- library ----
		{name: "--ort-lib missing", category: "library", args: local("--ort-lib", "/nonexistent/libonnxruntime.so"),
			code: ExitBadInput, want: "ONNX Runtime library /nonexistent/libonnxruntime.so: no such file", symptom: "ONNX Runtime library …: no such file",
			advice: "Run `make ort`, or point --ort-lib / `ONNXRUNTIME_LIB` at an existing `libonnxruntime.so`."},
		{name: "--ort-lib not a library", category: "library",
			args: func(t *testing.T, dir string) []string {
				p := writeFile(t, filepath.Join(dir, "libonnxruntime.so"), "not a library\n", 0o644)
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet", "--ort-lib", p)
			},
			code: ExitBadInput, want: "cannot use ONNX Runtime library", advice: "Point --ort-lib or `ONNXRUNTIME_LIB` at the `lib/libonnxruntime.so` of an official 1.24 release for this OS and CPU."},
		{name: "ONNXRUNTIME_LIB garbage", category: "library", env: map[string]string{"ONNXRUNTIME_LIB": "garbage"},
			args: local(), code: ExitBadInput, want: "ONNX Runtime library garbage: no such file"},
		{name: "no ONNX Runtime library", category: "library", serial: true, env: map[string]string{"ONNXRUNTIME_LIB": ""},
			args: func(t *testing.T, dir string) []string {
				t.Setenv("INFERGATE_CACHE", dir)
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet")
			},
			code: ExitBadInput, want: "no ONNX Runtime library found", advice: "Run `make ort`, or set `ONNXRUNTIME_LIB` to your `libonnxruntime.so` (1.24.x)."},
		{name: "cached library not the pinned one", category: "library", serial: true, env: map[string]string{"ONNXRUNTIME_LIB": ""},
			args: func(t *testing.T, dir string) []string {
				t.Setenv("INFERGATE_CACHE", dir)
				p, err := ortlib.CachePath()
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, p, "swapped\n", 0o644)
				return runArgs("mlp_same.onnx", "mlp_base.onnx", "mlp.parquet")
			},
			code: ExitBadInput, want: "is not the one `make ort` verified", symptom: "the cached ONNX Runtime at … is not the one `make ort` verified",
			advice: "Delete the cached library and run `make ort` again."},

		// ---- endpoints ----
		{name: "endpoint refuses credentials", category: "endpoints",
			args: func(t *testing.T, _ string) []string {
				s := sumServer(t, kservetest.Faults{}, withAuth)
				return endpointRun(s.ModelURL(), s.ModelURL(), "--max-latency-increase", "1.5")
			},
			code: ExitBadInput, want: "credentials", symptom: "endpoint … refused the request's credentials … check --header",
			advice: "Check `--header 'Authorization: Bearer $TOKEN'` and that the token is set and valid for this server."},
		{name: "endpoint refuses a wrong token", category: "endpoints", env: map[string]string{"INFERGATE_BAD_TOKEN": "wrong-token"},
			args: func(t *testing.T, _ string) []string {
				s := sumServer(t, kservetest.Faults{}, withAuth)
				return endpointRun(s.ModelURL(), s.ModelURL(), "--header", "Authorization: Bearer $INFERGATE_BAD_TOKEN")
			},
			code: ExitBadInput, want: "credentials"},
		{name: "gRPC endpoint refuses credentials", category: "endpoints",
			args: func(t *testing.T, _ string) []string {
				s := sumServer(t, kservetest.Faults{}, withAuth)
				return endpointRun(s.GRPCURL(), s.GRPCURL(), "--ready-timeout", "2s")
			},
			code: ExitBadInput, want: "credentials"},
		{name: "endpoint never ready", category: "endpoints", report: true,
			args: func(t *testing.T, _ string) []string {
				prod := sumServer(t, kservetest.Faults{})
				never := sumServer(t, kservetest.Faults{}, func(o *kservetest.Options) { o.NeverReady = true })
				return endpointRun(prod.ModelURL(), never.ModelURL(), "--ready-timeout", "1s")
			},
			code: ExitRunFailed, want: "never became ready within 1s", symptom: "endpoint … never became ready within …",
			advice: "Check that the model is loaded on the server (its `/v2/models/NAME/ready`), or raise --ready-timeout for slow loads."},
		{name: "endpoint on a closed port", category: "endpoints", report: true,
			args: func(t *testing.T, _ string) []string {
				prod := sumServer(t, kservetest.Faults{})
				return endpointRun(prod.ModelURL(), "http://"+closedPort(t)+"/v2/models/sum", "--ready-timeout", "1s")
			},
			code: ExitRunFailed, want: "connection refused", symptom: "never became ready … connection refused",
			advice: "Check the URL's host and port, and that the server is up before the step starts."},
		{name: "bench endpoint never ready", category: "endpoints", report: true,
			args: func(t *testing.T, _ string) []string {
				never := sumServer(t, kservetest.Faults{}, func(o *kservetest.Options) { o.NeverReady = true })
				return []string{"bench", "--url", never.ModelURL(), "--dataset", td("mlp.parquet"), "--quiet", "--ready-timeout", "1s"}
			},
			code: ExitRunFailed, want: "never became ready within 1s"},
		{name: "GPU memory of endpoints without a watch", category: "endpoints",
			args: endpoints("--max-gpu-memory-increase", "1.3"),
			code: ExitBadInput, want: "--max-gpu-memory-increase"},
		{name: "memory check with an endpoint", category: "endpoints",
			args: endpoints("--max-memory-increase", "1.2"),
			code: ExitBadInput, want: "--max-memory-increase compares local models' worker memory",
			advice: "Drop --max-memory-increase when a model is an endpoint (its server's memory is not read); watch a server's GPU memory with `--server-pid` and `--max-gpu-memory-increase`."},
		{name: "request template names a column it cannot send", category: "endpoints",
			args: func(t *testing.T, dir string) []string {
				path := writeTestParquet(t, dir, "meta.parquet", []arrow.Field{
					{Name: "meta", Type: arrow.StructOf(arrow.Field{Name: "k", Type: arrow.PrimitiveTypes.Int32})},
				}, func(b *array.RecordBuilder) {
					b.Field(0).(*array.StructBuilder).Append(true)
					b.Field(0).(*array.StructBuilder).FieldBuilder(0).(*array.Int32Builder).Append(1)
				})
				return []string{"bench", "--url", "http://127.0.0.1:1/predict", "--protocol", "http",
					"--request-template", `{"m": {{json .Row.meta}}}`, "--dataset", path, "--quiet"}
			},
			code: ExitBadInput, want: "--request-template uses column meta, whose type struct<k: int32> cannot be sent", symptom: "--request-template uses column …, whose type … cannot be sent",
			advice: "Leave the column out of the template, or export it as numbers, bool, text or lists of numbers."},

		// ---- saved results ----
		{name: "report of a file that is not JSON", category: "saved",
			args: func(t *testing.T, dir string) []string {
				return []string{"report", writeFile(t, filepath.Join(dir, "bad.json"), `{"schema_version": 1, "targets": [`, 0o644)}
			},
			code: ExitBadInput, want: "not an infergate result", advice: "Pass the file that `--json` wrote; check that the artifact was downloaded whole."},
		{name: "compare JSON without schema_version", category: "saved",
			args: func(t *testing.T, dir string) []string {
				p := writeFile(t, filepath.Join(dir, "package.json"), `{"name": "left-pad", "version": "1.3.0"}`, 0o644)
				return []string{"compare", p, savedDoc(t, dir, "good.json", nil), "--max-latency-increase", "1.2"}
			},
			code: ExitBadInput, want: "no schema_version"},
		{name: "merge of a newer schema_version", category: "saved",
			args: func(t *testing.T, dir string) []string {
				good := savedDoc(t, dir, "good.json", nil)
				newer := savedDoc(t, dir, "newer.json", func(r *result.Result) { r.SchemaVersion = 99 })
				return []string{"merge", good, newer, "-o", filepath.Join(dir, "all.json")}
			},
			code: ExitBadInput, want: "schema_version 99 is newer", symptom: "schema_version … is newer …; upgrade infergate",
			advice: "Read it with the infergate version that wrote it, or a newer one."},
		{name: "report of an undecodable histogram", category: "saved",
			args: func(t *testing.T, dir string) []string {
				return []string{"report", savedDoc(t, dir, "hist.json", func(r *result.Result) {
					r.Targets[0].Rounds[1].Histogram = "bm90IGEgaGlzdG9ncmFt"
				})}
			},
			code: ExitBadInput, want: "round 1", symptom: "not an infergate result: target … round … decode histogram",
			advice: "The file was edited or cut; take the original from the run's artifact."},
		{name: "compare of a missing file", category: "saved",
			args: func(t *testing.T, dir string) []string {
				return []string{"compare", filepath.Join(dir, "nope.json"), savedDoc(t, dir, "good.json", nil)}
			},
			code: ExitBadInput, want: "nope.json: no such file", symptom: "open ….json: no such file or directory", advice: "Check the path; in CI, that the baseline artifact was downloaded."},
		{name: "compare of one file", category: "saved",
			args: func(t *testing.T, dir string) []string {
				return []string{"compare", savedDoc(t, dir, "good.json", nil)}
			},
			code: ExitBadInput, want: "accepts 2 arg", symptom: "accepts 2 arg(s), received 1", advice: "Give two results: `infergate compare BASE.json NEW.json`."},
		{name: "compare of a failed run", category: "saved",
			args: func(t *testing.T, dir string) []string {
				failed := savedDoc(t, dir, "failed.json", func(r *result.Result) {
					r.Targets[0].Failed = "worker died"
					r.Verdict = result.VerdictError
				})
				return []string{"compare", savedDoc(t, dir, "good.json", nil), failed}
			},
			code: ExitBadInput, want: "there is nothing to compare", advice: "Compare results of runs that finished; fix and rerun the one that failed."},
		{name: "compare of different test sets", category: "saved", report: true,
			args: func(t *testing.T, dir string) []string {
				a := savedDoc(t, dir, "a.json", func(r *result.Result) { r.TestSet = &result.TestSet{Rows: 100, SHA256: strings.Repeat("a", 64)} })
				b := savedDoc(t, dir, "b.json", func(r *result.Result) { r.TestSet = &result.TestSet{Rows: 100, SHA256: strings.Repeat("b", 64)} })
				return []string{"compare", a, b}
			},
			code: ExitPass, want: "different test sets", symptom: "warning: … came from different test sets",
			advice: "A warning, not an error: measure both on the same Parquet file, or read the ratio as a hint."},
		{name: "merge of different models", category: "saved",
			args: func(t *testing.T, dir string) []string {
				a := savedDoc(t, dir, "a.json", nil)
				b := savedDoc(t, dir, "b.json", func(r *result.Result) { r.Targets[0].Name = "other.onnx" })
				return []string{"merge", a, b, "-o", filepath.Join(dir, "all.json")}
			},
			code: ExitBadInput, want: "merge combines results of the same models only",
			advice: "Merge only shards of the same models; compare different models with `infergate compare`."},
		{name: "merge output into a directory", category: "saved",
			args: func(t *testing.T, dir string) []string {
				return []string{"merge", savedDoc(t, dir, "a.json", nil), savedDoc(t, dir, "b.json", nil), "-o", dir}
			},
			code: ExitBadInput, want: "--output"},
	}
}

// TestBadInput is the bad-input contract, one row per input: the exit
// code, a fragment of one clear line on stderr, and nothing half-written
// on stdout.
func TestBadInput(t *testing.T) {
	rows := badInputs()
	if len(rows) < 45 {
		t.Fatalf("%d rows, want at least 45", len(rows))
	}
	seen := map[string]bool{}
	perCategory := map[string]int{}
	for _, row := range rows {
		if seen[row.name] {
			t.Fatalf("two rows named %q", row.name)
		}
		seen[row.name] = true
		perCategory[row.category]++
	}
	for _, c := range []string{"files", "flags", "bindings", "library", "endpoints", "saved"} {
		if perCategory[c] == 0 {
			t.Errorf("no row of category %q", c)
		}
		delete(perCategory, c)
	}
	if len(perCategory) > 0 {
		t.Errorf("rows of unknown categories: %v", perCategory)
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			if !row.serial {
				t.Parallel()
			}
			if row.knownBug != "" && !*knownBugs {
				t.Skip("known bug: " + row.knownBug)
			}
			if row.ort {
				ortlib.Require(t)
			}
			if row.nonRoot && os.Geteuid() == 0 {
				t.Skip("root ignores file permissions")
			}
			if row.corpus {
				if _, err := os.Stat(corpusDir()); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatalf("no corpus: %v", err)
					}
					t.Skipf("no corpus: %v", err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := row.args(t, t.TempDir())
			r := runCLIEnv(t, ctx, "1", row.env, args...)
			checkBadInput(t, row, r)
		})
	}
}

func checkBadInput(t *testing.T, row badInput, r cliResult) {
	t.Helper()
	t.Logf("exit %d; stderr: %s", r.code, r.stderr)
	if r.code != row.code {
		t.Fatalf("exit %d, want %d\nstderr:\n%s\nstdout:\n%s", r.code, row.code, r.stderr, r.stdout)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stack trace on stderr:\n%s", r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if row.report {
		if r.code != ExitPass {
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "infergate: ") || !strings.Contains(last, row.want) {
				t.Errorf("last line of stderr %q: want it to start with \"infergate: \" and name %q", last, row.want)
			}
		} else if !strings.Contains(r.stderr+r.stdout, row.want) {
			t.Errorf("neither the report nor stderr says %q:\nstderr:\n%s\nstdout:\n%s", row.want, r.stderr, r.stdout)
		}
		if r.stdout == "" {
			t.Error("no report on stdout")
		}
		checkSymptom(t, row, r.stderr+r.stdout)
		return
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "infergate: ") {
		t.Errorf("want one line on stderr starting with \"infergate: \", got:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, row.want) {
		t.Errorf("stderr %q lacks %q", r.stderr, row.want)
	}
	checkSymptom(t, row, r.stderr)
	if r.code == ExitBadInput && r.stdout != "" {
		t.Errorf("bad input, yet stdout has:\n%s", r.stdout)
	}
}

// checkSymptom holds the README's symptom to what infergate says: the
// pieces between "…" appear in the output, in order.
func checkSymptom(t *testing.T, row badInput, out string) {
	t.Helper()
	if row.symptom == "" {
		return
	}
	rest := out
	for _, piece := range strings.Split(row.symptom, "…") {
		piece = strings.TrimSpace(piece)
		i := strings.Index(rest, piece)
		if i < 0 {
			t.Errorf("symptom %q: %q not found (in order) in:\n%s", row.symptom, piece, out)
			return
		}
		rest = rest[i+len(piece):]
	}
}

const (
	troubleBegin = "<!-- troubleshooting:begin -->"
	troubleEnd   = "<!-- troubleshooting:end -->"
)

// troubleshooting renders the README's troubleshooting section from the
// rows that carry advice, by exit code, one line per message.
func troubleshooting(rows []badInput) string {
	var b strings.Builder
	b.WriteString(troubleBegin + "\n")
	b.WriteString("## Troubleshooting\n\n")
	b.WriteString("What infergate's one line on stderr (`infergate: …`) means, and what to do.\n")
	b.WriteString("The table is generated from `TestBadInput` (`cmd/infergate/badinput_test.go`),\n")
	b.WriteString("which runs every row; `go test ./cmd/infergate -run TestBadInputREADME -update-readme`\n")
	b.WriteString("rewrites it. Exit 2 means nothing was measured and nothing went to stdout.\n\n")
	b.WriteString("| message contains | exit | what to do |\n| --- | --- | --- |\n")
	var keep []badInput
	for _, r := range rows {
		if r.advice != "" && r.knownBug == "" {
			keep = append(keep, r)
		}
	}
	slices.SortStableFunc(keep, func(a, b badInput) int { return int(a.code) - int(b.code) })
	done := map[string]bool{}
	for _, r := range keep {
		s := r.symptom
		if s == "" {
			s = r.want
		}
		key := fmt.Sprint(r.code, s)
		if done[key] {
			continue
		}
		done[key] = true
		fmt.Fprintf(&b, "| %s | %d | %s |\n", mdCode(s), r.code, strings.ReplaceAll(r.advice, "|", `\|`))
	}
	b.WriteString(troubleEnd + "\n")
	return b.String()
}

// mdCode puts s in a Markdown code span that survives a table cell.
func mdCode(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

// TestBadInputREADME keeps the README's troubleshooting section
// equal to what TestBadInput's table renders.
func TestBadInputREADME(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	want := troubleshooting(badInputs())
	i := strings.Index(readme, troubleBegin)
	j := strings.Index(readme, troubleEnd)
	var got, updated string
	switch {
	case i >= 0 && j > i:
		end := j + len(troubleEnd)
		if end < len(readme) && readme[end] == '\n' {
			end++
		}
		got = readme[i:end]
		updated = readme[:i] + want + readme[end:]
	default:
		k := strings.Index(readme, "\n## Exit codes\n")
		if k < 0 {
			t.Fatal("README.md has neither the troubleshooting markers nor an \"## Exit codes\" section to put them before")
		}
		updated = readme[:k+1] + want + "\n" + readme[k+1:]
	}
	if got == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile(path, []byte(updated), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's troubleshooting section is out of date with TestBadInput's table; run\n\tgo test ./cmd/infergate -run TestBadInputREADME -update-readme\nwant:\n%s", want)
}
