package report

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/result"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestMain(m *testing.M) {
	// "µ", "×" and "≤" are East Asian ambiguous-width: in a CJK locale
	// tablewriter would pad them as two columns. Goldens are narrow.
	twwidth.SetEastAsian(false)
	os.Exit(m.Run())
}

// golden compares got with testdata/<name>.golden byte for byte. On a
// mismatch it writes testdata/<name>.got beside it to diff against.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	gotPath := filepath.Join("testdata", name+".got")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(gotPath)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; run `go test ./report -update` to create it", err)
	}
	if bytes.Equal(got, want) {
		_ = os.Remove(gotPath)
		return
	}
	if err := os.WriteFile(gotPath, got, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Errorf("output differs from %s; see `diff %s %s`, and if the change is intended run `go test ./report -update`",
		path, path, gotPath)
}

// side describes one synthetic target.
type side struct {
	role       result.Role
	name       string
	latency    time.Duration // centre; samples spread over ±10% with a tail
	samples    int           // per round
	throughput float64
	loadRSS    int64
	peakRSS    int64
	errors     map[string]int64
	failed     string
	// own is the target's own per-round factor on top of the machine's
	// drift, which both targets share; nil means none.
	own []float64
	// perToken, when set, records the round by input size too: the
	// samples split over fixtureLens, costing perToken more per token.
	perToken time.Duration
	// gpu is the target's GPU usage; nil for a CPU run.
	gpu *result.GPUUsage
}

// fixtureLens are the sequence lengths of the size buckets of fixtures
// whose sides set perToken.
var fixtureLens = []float64{8, 16, 32}

// machine is the slowdown a shared machine imposed on each round, the
// same for both targets: what the paired bootstrap cancels.
var machine = []float64{1.00, 1.08, 0.96, 1.04}

func (s side) build(t *testing.T) result.Target {
	t.Helper()
	tg := result.Target{
		Role: s.role, Name: s.name, Kind: "onnx", Model: "models/" + s.name + ".onnx",
		Inputs:     []string{"features float32[-1 64]"},
		Throughput: result.Throughput{InferencesPerS: s.throughput, RowsPerS: 32 * s.throughput},
		Memory:     result.Memory{LoadRSSBytes: s.loadRSS, PeakRSSBytes: s.peakRSS},
		Errors:     result.Errors{ByKind: map[string]int64{}},
		Failed:     s.failed,
		GPU:        s.gpu,
	}
	for k, n := range s.errors {
		tg.Errors.ByKind[k] = n
		tg.Errors.Total += n
	}
	all := result.NewHistogram()
	var busy int64
	for i, drift := range machine {
		if s.own != nil {
			drift *= s.own[i]
		}
		h := result.NewHistogram()
		for j := range s.samples {
			f := 0.9 + 0.2*float64(j)/float64(max(s.samples-1, 1))
			if j%50 == 49 {
				f *= 1.5 // a tail, so p99 and max stand apart
			}
			h.Record(time.Duration(float64(s.latency) * f * drift))
		}
		enc, err := h.Encode()
		if err != nil {
			t.Fatal(err)
		}
		all.Merge(h)
		var sizes []result.SizeBucket
		if s.perToken > 0 {
			for k, n := range fixtureLens {
				hb := result.NewHistogram()
				per := s.samples / len(fixtureLens)
				for j := range per {
					f := 0.95 + 0.1*float64(j)/float64(max(per-1, 1))
					hb.Record(time.Duration((float64(s.latency)/2 + float64(s.perToken)*n) * f * drift))
				}
				enc, err := hb.Encode()
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, result.SizeBucket{Index: k, Histogram: enc, Count: hb.Count(), SizeSum: n * float64(hb.Count())})
			}
		}
		// Busy time that gives the side's throughput on average, slowed
		// down in each round like its latency.
		var elapsed int64
		if s.throughput > 0 {
			elapsed = int64(float64(s.samples) / s.throughput * 1e9 * drift)
		}
		busy += elapsed
		tg.Rounds = append(tg.Rounds, result.Round{
			Index: i, Position: i % 2, Requests: int64(s.samples), Rows: 32 * int64(s.samples),
			ElapsedNS: elapsed, Histogram: enc, PeakRSSBytes: s.peakRSS, SizeBuckets: sizes,
		})
	}
	tg.Latency = all.Summary()
	if busy > 0 {
		// As bench computes it: over the rounds' busy time.
		n := float64(s.samples * len(machine))
		tg.Throughput = result.Throughput{InferencesPerS: n / (float64(busy) / 1e9), RowsPerS: 32 * n / (float64(busy) / 1e9)}
	}
	return tg
}

const MiB = 1 << 20

var (
	prodSide = side{role: result.RoleProduction, name: "fraud-v1", latency: 2 * time.Millisecond, samples: 250,
		throughput: 498.7, loadRSS: 24*MiB + 300*1024, peakRSS: 81 * MiB}
	candSide = side{role: result.RoleCandidate, name: "fraud-v2", latency: 2 * time.Millisecond, samples: 250,
		throughput: 503.2, loadRSS: 25 * MiB, peakRSS: 84*MiB + 512*1024, own: []float64{1.01, 0.98, 1.02, 0.99}}
)

// newResult builds a deterministic document: fixed timestamps, machine and
// histograms, judged by the real compare package.
func newResult(t *testing.T, th compare.Thresholds, mode compare.Mode, sides ...side) *result.Result {
	t.Helper()
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	r := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Tool:          result.Tool{Name: "infergate", Version: "0.1.0"},
		StartedAt:     start,
		FinishedAt:    start.Add(83*time.Second + 400*time.Millisecond),
		Config: result.Config{
			Command: "run", Dataset: "testdata/transactions.parquet", DatasetRows: 10000, Rows: 8000,
			BatchSize: 32, Warmup: "100 requests", Requests: 1000, Rounds: 4, Concurrency: 1,
			Device: "cpu", IntraThreads: 1, InterThreads: 1, GraphOptimization: "all", LatencyPercentile: 0.95,
		},
		Machine: result.Machine{OS: "linux", Arch: "amd64", CPUModel: "AMD EPYC 7B13", Cores: 16,
			GoVersion: "go1.26.8", ORTVersion: "1.22.0"},
	}
	if mode == compare.ModeSingle {
		r.Config.Command = "bench"
	}
	for _, s := range sides {
		r.Targets = append(r.Targets, s.build(t))
		if s.perToken > 0 && r.InputSizes == nil {
			r.InputSizes = &result.InputSizes{Measure: "seq_len"}
			for _, n := range fixtureLens {
				r.InputSizes.Buckets = append(r.InputSizes.Buckets, result.SizeBucketDef{Lo: n, Hi: n, Label: fmt.Sprintf("len %g", n)})
			}
		}
	}
	specs, err := compare.NewSpecs(th, mode)
	if err != nil {
		t.Fatal(err)
	}
	if r.Checks, r.Verdict, err = compare.Judge(r, specs); err != nil {
		t.Fatal(err)
	}
	return r
}

func fixtures(t *testing.T) map[string]*result.Result {
	slow := candSide
	slow.latency = 2540 * time.Microsecond
	slow.throughput = 401.9
	slow.errors = map[string]int64{"timeout": 3, "shape mismatch": 1}
	slow.samples = 249 // 4 rounds: 996 + 4 errors = 1,000 requests
	// Latency by input size: the candidate's cost grows 1.5 times as fast
	// with the sequence length.
	slow.perToken = 60 * time.Microsecond
	sizedProd := prodSide
	sizedProd.perToken = 40 * time.Microsecond

	fail := newResult(t, compare.Thresholds{MaxLatencyIncrease: 1.15, MaxMemoryIncrease: 1.2, MaxSizeSlopeIncrease: 1.2}, compare.ModePair, sizedProd, slow)
	fail.Warnings = []string{"the machine has 2 cores busy with other processes; latency may be noisy"}
	// The production model says its version (as an endpoint's URL or
	// metadata does); the candidate's is unknown.
	fail.Targets[0].ModelVersion = "12"

	pass := newResult(t, compare.Thresholds{
		MaxLatencyIncrease: 1.15, MaxP99Increase: 1.25, MinThroughputRatio: 0.95, MaxMemoryIncrease: 1.2,
		MaxErrorRate: new(0.01), MaxP95: 5 * time.Millisecond,
	}, compare.ModePair, prodSide, candSide)

	model := candSide
	model.role = result.RoleSingle
	model.latency = 21300 * time.Nanosecond
	model.throughput = 41234.5
	bench := newResult(t, compare.Thresholds{MaxP95: 25 * time.Microsecond, MaxP99: 30 * time.Microsecond},
		compare.ModeSingle, model)
	bench.Config.Rows = 0

	// Memory not measured on production: an inconclusive check, and the
	// run was cut short by a signal.
	noMem := prodSide
	noMem.loadRSS, noMem.peakRSS = 0, 0
	interrupted := newResult(t, compare.Thresholds{MaxLatencyIncrease: 1.15, MaxMemoryIncrease: 1.2}, compare.ModePair, noMem, candSide)
	interrupted.Interrupted = true

	crashed := candSide
	crashed.samples = 0
	crashed.failed = "worker exited: signal: killed (out of memory?)"
	errored := newResult(t, compare.Thresholds{MaxLatencyIncrease: 1.15}, compare.ModePair, prodSide, crashed)
	errored.Error = "candidate fraud-v2: worker exited: signal: killed (out of memory?)"

	return map[string]*result.Result{
		"pair_diagnostics": diagnosticsFixture(t),
		"pair_gpu":         gpuFixture(t),
		"sweep":            sweepFixture(t),
		"pair_fail":        fail,
		"pair_pass":        pass,
		"bench":            bench,
		"interrupted":      interrupted,
		"error":            errored,
	}
}

// diagnosticsFixture is a passing pair run with `--check-outputs
// --min-top1-agreement 0.99 --profile`: one output out of tolerance (a
// failed output-parity check, so the run fails), a classifier output whose
// top-1 agreement passes, an output paired by --output-map, and a profile
// diff of four nodes, one new in the candidate and one gone from it.
func diagnosticsFixture(t *testing.T) *result.Result {
	r := newResult(t, compare.Thresholds{MaxLatencyIncrease: 1.15, MaxMemoryIncrease: 1.2}, compare.ModePair, prodSide, candSide)
	r.Config.Requests = 1000
	r.Parity = &result.Parity{
		Rows: 256, ATol: 1e-5, RTol: 1e-3, MinTop1Agreement: new(0.99),
		Sample: &result.ParitySample{Rule: result.SampleSpread, Of: 2000},
		Outputs: []result.OutputParity{
			{Name: "probabilities", Shape: []int64{32, 2}, Elements: 512, MaxAbs: 3.1e-4, MaxRel: 2.4e-3,
				WithinTol: 0.984375, Classifier: true, Top1: 0.99609375, Rows: 256},
			{Name: "label", Candidate: "label_out", Shape: []int64{32}, Elements: 256, Rows: 256, WithinTol: 1},
		},
	}
	r.Profile = &result.ProfileDiff{
		Requests:  200,
		BatchSize: 8,
		Nodes: []result.NodeDiff{
			{Name: "/encoder/MatMul_1", OpType: "MatMul", ProductionUS: 412.4, CandidateUS: 198.3, Delta: -214.1, Ratio: 198.3 / 412.4},
			{Name: "/encoder/Gelu_fused", OpType: "Gelu", CandidateUS: 61.5, Delta: 61.5},
			{Name: "/encoder/Erf", OpType: "Erf", ProductionUS: 48.7, Delta: -48.7},
			{Name: "/head/Softmax", OpType: "Softmax", ProductionUS: 6.5, CandidateUS: 7.25, Delta: 0.75, Ratio: 7.25 / 6.5},
		},
		Added:   []string{"/encoder/Gelu_fused"},
		Removed: []string{"/encoder/Erf"},
		ByOpType: []result.OpTypeDiff{
			{OpType: "MatMul", ProductionUS: 412.4, CandidateUS: 198.3, Delta: -214.1, Ratio: 198.3 / 412.4, ProductionNodes: 1, CandidateNodes: 1},
			{OpType: "Gelu", CandidateUS: 61.5, Delta: 61.5, CandidateNodes: 1},
			{OpType: "Erf", ProductionUS: 48.7, Delta: -48.7, ProductionNodes: 1},
			{OpType: "Softmax", ProductionUS: 6.5, CandidateUS: 7.25, Delta: 0.75, Ratio: 7.25 / 6.5, ProductionNodes: 1, CandidateNodes: 1},
		},
		ProductionTotalUS: 467.6,
		CandidateTotalUS:  267.05,
	}
	compare.ApplyParity(r)
	return r
}

// sweepFixture is a load sweep over three concurrencies: production
// scales, the candidate saturates and fails the latency check at the last
// stage. Its top level mirrors the last stage, as infergate writes it.
func sweepFixture(t *testing.T) *result.Result {
	th := compare.Thresholds{MaxLatencyIncrease: 1.15, MaxErrorRate: new(0.01)}
	var r *result.Result
	var stages []result.Stage
	for i, n := range []int{1, 2, 4} {
		p, c := prodSide, candSide
		p.latency = time.Duration(float64(p.latency) * []float64{1, 1.2, 1.9}[i])
		p.throughput *= []float64{1, 1.65, 2.1}[i]
		c.latency = time.Duration(float64(c.latency) * []float64{1, 1.25, 2.7}[i])
		c.throughput *= []float64{1, 1.6, 1.5}[i]
		st := newResult(t, th, compare.ModePair, p, c)
		stages = append(stages, result.Stage{Name: fmt.Sprintf("concurrency=%d", n), Concurrency: n,
			Targets: st.Targets, Checks: st.Checks, Verdict: st.Verdict})
		r = st
	}
	r.Stages = stages
	r.Config.Concurrency = 4
	r.Config.ConcurrencySweep = []int{1, 2, 4}
	r.Verdict = result.WorstVerdict(stages[0].Verdict, stages[1].Verdict, stages[2].Verdict)
	return r
}

func TestTableGolden(t *testing.T) {
	for name, r := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := NewTable(r).Report(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, name, b.Bytes())
		})
	}
}

func TestTableContent(t *testing.T) {
	// Spot checks that hold whatever the layout: the goldens pin the rest.
	fx := fixtures(t)
	for name, want := range map[string][]string{
		"pair_fail":   {"verdict: FAIL (2 of 3 checks failed: max-latency-increase, max-size-slope-increase)", "latency by input size (sequence length)", "len 32", "max-latency-increase: p95 1.24× production", "1.24× [1.24, 1.28]", "    method: paired block bootstrap over 4 rounds", "warning: the machine", "errors: shape mismatch"},
		"pair_pass":   {"verdict: PASS (6 of 6 checks passed)", "≥ 0.95×", "≤ 5ms", "≤ 1.00%"},
		"bench":       {"infergate bench: fraud-v2", "21.7µs", "family-wise error controlled with Holm–Bonferroni over 2 checks", "verdict: FAIL (1 of 2 checks failed: max-p99)", "≤ 25µs"},
		"interrupted": {"INTERRUPTED:", "; run interrupted)", "INCONCLUSIVE", "not measured"},
		"error":       {"ERROR: the run failed: candidate fraud-v2", "verdict: ERROR"},
		"sweep":       {"load sweep: 3 stages (concurrency=1, concurrency=2, concurrency=4)", "\nstages\n", "prod p95", "cand inf/s", "checks at concurrency=4", "verdict: FAIL (concurrency=4: FAIL max-latency-increase)"},
	} {
		var b bytes.Buffer
		if err := NewTable(fx[name]).Report(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", name, w, out)
			}
		}
		if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
			t.Errorf("%s: output has NaN/Inf:\n%s", name, out)
		}
		if !strings.HasSuffix(out, "\n") || strings.Count(strings.TrimSpace(out[strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")+1:]), "verdict:") != 1 {
			t.Errorf("%s: the verdict must be the last line:\n%s", name, out)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := fixtures(t)["pair_fail"]
	var b bytes.Buffer
	if err := NewJSON(r).Report(&b); err != nil {
		t.Fatal(err)
	}
	back, err := result.Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Verdict != r.Verdict || len(back.Checks) != len(r.Checks) || back.Checks[0].Message != r.Checks[0].Message {
		t.Errorf("JSON report does not read back: %+v", back)
	}
	// The table rendered from the saved document equals the live one:
	// `infergate report` re-renders old runs faithfully.
	var live, saved bytes.Buffer
	if err := NewTable(r).Report(&live); err != nil {
		t.Fatal(err)
	}
	if err := NewTable(back).Report(&saved); err != nil {
		t.Fatal(err)
	}
	if live.String() != saved.String() {
		t.Errorf("table from saved JSON differs:\n%s\n---\n%s", live.String(), saved.String())
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("broken pipe")
	}
	n := min(len(p), w.after)
	w.after -= n
	if n < len(p) {
		return n, errors.New("broken pipe")
	}
	return n, nil
}

func TestWriteErrors(t *testing.T) {
	r := fixtures(t)["pair_fail"]
	for name, rep := range map[string]Reporter{"table": NewTable(r), "json": NewJSON(r)} {
		for _, after := range []int{0, 100} {
			err := rep.Report(&failingWriter{after: after})
			if err == nil || !strings.Contains(err.Error(), "broken pipe") {
				t.Errorf("%s reporter, writer failing after %d bytes: err = %v", name, after, err)
			}
		}
	}
	if err := NewTable(nil).Report(&bytes.Buffer{}); err == nil {
		t.Error("nil result accepted")
	}
}

func TestVerdictLine(t *testing.T) {
	c := func(name string, o result.Outcome) result.Check { return result.Check{Name: name, Outcome: o} }
	for _, tc := range []struct {
		r    result.Result
		want string
	}{
		{result.Result{Verdict: result.VerdictPass, Checks: []result.Check{c("a", result.OutcomePass)}}, "verdict: PASS (1 of 1 check passed)"},
		{result.Result{Verdict: result.VerdictFail, Checks: []result.Check{c("a", result.OutcomeFail), c("b", result.OutcomeInconclusive), c("c", result.OutcomePass)}},
			"verdict: FAIL (1 of 3 checks failed: a; 1 inconclusive: b)"},
		// How the command layer records a run cut short: no checks judged.
		{result.Result{Verdict: result.VerdictInconclusive, Interrupted: true}, "verdict: INCONCLUSIVE (run interrupted)"},
		{result.Result{Verdict: result.VerdictNone}, "verdict: none (no checks requested)"},
		{result.Result{Verdict: result.VerdictError}, "verdict: ERROR (a target failed; no checks were judged)"},
		{result.Result{}, "verdict: not judged"},
	} {
		if got := verdictLine(&tc.r); got != tc.want {
			t.Errorf("verdictLine = %q, want %q", got, tc.want)
		}
	}
}

func TestTableMinimal(t *testing.T) {
	// A document with almost nothing in it (an early failure) still renders.
	r := &result.Result{SchemaVersion: 1, Verdict: result.VerdictError, Error: "dataset: no such file"}
	var b bytes.Buffer
	if err := NewTable(r).Report(&b); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"No model was measured.", "verdict: ERROR (dataset: no such file; no checks were judged)"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, b.String())
		}
	}
}

func TestTableErrorsByInput(t *testing.T) {
	r := fixtures(t)["pair_fail"]
	r.Targets[0].Errors.ByClass = map[string]int64{"nan": 3, "normal": 1}
	r.Targets[0].Errors.Examples = map[string][]int64{"runtime_error": {17, 42}}
	var b bytes.Buffer
	if err := NewTable(r).Report(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"errors by input: nan", "errors by input: normal"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, absent := range []string{"errors by input: empty", "errors by input: oversized"} {
		if strings.Contains(out, absent) {
			t.Errorf("table has %q with no such errors", absent)
		}
	}
}
