package result

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sample is a complete, deterministic pair-run document.
func sample(t testing.TB) *Result {
	t.Helper()
	target := func(role Role, base time.Duration) Target {
		tg := Target{
			Role: role, Name: string(role), Kind: "onnx", Model: "models/" + string(role) + ".onnx",
			Inputs:     []string{"features float32[-1 64]"},
			Throughput: Throughput{InferencesPerS: 512.5, RowsPerS: 16400},
			Memory:     Memory{LoadRSSBytes: 12 << 20, PeakRSSBytes: 80 << 20},
			Errors:     Errors{Total: 2, ByKind: map[string]int64{"timeout": 2}},
		}
		all := NewHistogram()
		for i := range 3 {
			h := NewHistogram()
			for j := range 50 {
				h.Record(base + time.Duration(i*50+j)*time.Microsecond)
			}
			enc, err := h.Encode()
			if err != nil {
				t.Fatal(err)
			}
			all.Merge(h)
			tg.Rounds = append(tg.Rounds, Round{Index: i, Position: i % 2, Requests: 50, Rows: 1600, ElapsedNS: int64(100 * time.Millisecond), Histogram: enc, PeakRSSBytes: 80 << 20})
		}
		tg.Latency = all.Summary()
		return tg
	}
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return &Result{
		SchemaVersion: SchemaVersion,
		Tool:          Tool{Name: "infergate", Version: "0.1.0"},
		StartedAt:     start,
		FinishedAt:    start.Add(90 * time.Second),
		Config: Config{
			Command: "run", Dataset: "testdata/tabular.parquet", DatasetRows: 4096, BatchSize: 32,
			Warmup: "50 requests", Requests: 150, Rounds: 3, Concurrency: 1, Device: "cpu",
			IntraThreads: 1, InterThreads: 1, GraphOptimization: "all", LatencyPercentile: 0.95,
			Thresholds: map[string]string{"max-latency-increase": "1.15"},
		},
		Machine: Machine{OS: "linux", Arch: "amd64", Cores: 16, GoVersion: "go1.26.8"},
		Targets: []Target{target(RoleProduction, 2*time.Millisecond), target(RoleCandidate, 2500*time.Microsecond)},
		Checks: []Check{{
			Name: "max-latency-increase", Metric: "latency_p95", Unit: "ns", Threshold: 1.15,
			Production: 2e6, Candidate: 2.5e6, Ratio: 1.25, Lower: 1.25, Upper: 1.25,
			Outcome: OutcomeFail, Method: "point estimate", Message: "p95 1.25× production",
		}},
		Verdict:  VerdictFail,
		Warnings: []string{"only 3 rounds"},
	}
}

func encode(t testing.TB, r *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriteReadRoundTrip(t *testing.T) {
	r := sample(t)
	doc := encode(t, r)
	back, err := Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, back) {
		t.Errorf("round trip changed the document:\n got %+v\nwant %+v", back, r)
	}
	if again := encode(t, back); !bytes.Equal(doc, again) {
		t.Errorf("re-encoding differs:\n%s\n---\n%s", doc, again)
	}
	// The merged histogram reproduces the stored summary.
	h, err := back.Target(RoleCandidate).Histogram()
	if err != nil {
		t.Fatal(err)
	}
	if h.Summary() != back.Target(RoleCandidate).Latency {
		t.Errorf("merged rounds %+v, summary %+v", h.Summary(), back.Target(RoleCandidate).Latency)
	}
	if back.Target(RoleSingle) != nil {
		t.Error("Target(model) found a target that is not there")
	}
}

func TestWriteFieldNames(t *testing.T) {
	// Field names are a contract with users' scripts (see the design notes).
	var m map[string]any
	if err := json.Unmarshal(encode(t, sample(t)), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema_version", "tool", "started_at", "config", "machine", "targets", "checks", "verdict"} {
		if _, ok := m[k]; !ok {
			t.Errorf("document lacks %q", k)
		}
	}
	tg := m["targets"].([]any)[0].(map[string]any)
	for _, k := range []string{"role", "name", "kind", "latency", "throughput", "memory", "errors", "rounds"} {
		if _, ok := tg[k]; !ok {
			t.Errorf("target lacks %q", k)
		}
	}
	lat := tg["latency"].(map[string]any)
	for _, k := range []string{"count", "min_ns", "mean_ns", "p50_ns", "p90_ns", "p95_ns", "p99_ns", "p999_ns", "max_ns"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency lacks %q", k)
		}
	}
	c := m["checks"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "metric", "threshold", "production", "candidate", "ratio", "lower", "upper", "outcome"} {
		if _, ok := c[k]; !ok {
			t.Errorf("check lacks %q", k)
		}
	}
}

func TestReadRejects(t *testing.T) {
	valid := string(encode(t, sample(t)))
	badHist := strings.Replace(valid, sample(t).Targets[1].Rounds[2].Histogram, "bm90IGEgaGlzdG9ncmFt", 1)
	if badHist == valid {
		t.Fatal("could not corrupt the histogram")
	}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"not JSON", "hello", "not an infergate result"},
		{"empty", "", "not an infergate result"},
		{"array", "[1, 2]", "not an infergate result"},
		{"null", "null", "no schema_version"},
		{"no schema_version", `{"tool": {"name": "infergate"}}`, "no schema_version"},
		{"newer schema", `{"schema_version": 99}`, "upgrade infergate"},
		{"negative schema", `{"schema_version": -1}`, "schema_version"},
		{"wrong type", `{"schema_version": "1"}`, "not an infergate result"},
		{"bad histogram", badHist, `target "candidate" round 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Read(strings.NewReader(tc.doc))
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if !errors.Is(err, ErrSchema) {
				t.Errorf("error %q does not wrap ErrSchema", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestReadOlderFieldsOptional(t *testing.T) {
	// A minimal document of the current version reads: new optional fields
	// must never be required.
	r, err := Read(strings.NewReader(`{"schema_version": 1, "targets": [{"role": "model", "name": "m", "rounds": []}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Target(RoleSingle) == nil || r.Target(RoleSingle).Name != "m" {
		t.Errorf("got %+v", r)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if err := Write(failWriter{}, sample(t)); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Write to a failing writer: %v", err)
	}
}

func FuzzDecodeHistogram(f *testing.F) {
	h := NewHistogram()
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i*i) * time.Microsecond)
	}
	enc, err := h.Encode()
	if err != nil {
		f.Fatal(err)
	}
	empty, _ := NewHistogram().Encode()
	for _, s := range []string{enc, empty, "", "HISTFAAAA", enc[:len(enc)/2], strings.ToLower(enc)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := DecodeHistogram(s)
		if err != nil {
			return
		}
		// Whatever decodes can be summarised, re-encoded and decoded again
		// without losing samples.
		_ = h.Summary()
		enc, err := h.Encode()
		if err != nil {
			t.Fatalf("decoded histogram does not encode: %v", err)
		}
		back, err := DecodeHistogram(enc)
		if err != nil {
			t.Fatalf("re-encoded histogram does not decode: %v", err)
		}
		if back.Count() != h.Count() {
			t.Fatalf("count %d after round trip, was %d", back.Count(), h.Count())
		}
	})
}

func FuzzRead(f *testing.F) {
	f.Add(string(encode(f, sample(f))))
	f.Add(`{"schema_version": 1}`)
	f.Add(`{"schema_version": 1, "targets": [{"rounds": [{"histogram": "x"}]}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		r, err := Read(strings.NewReader(doc))
		if err != nil {
			return
		}
		// A document that reads must write and read back the same.
		var b bytes.Buffer
		if err := Write(&b, r); err != nil {
			t.Fatalf("read but cannot write: %v", err)
		}
		r2, err := Read(&b)
		if err != nil {
			t.Fatalf("written document does not read: %v", err)
		}
		if !bytes.Equal(encode(t, r), encode(t, r2)) {
			t.Fatal("document changed across Write/Read")
		}
		for i := range r2.Targets {
			if _, err := r2.Targets[i].Histogram(); err != nil {
				t.Fatalf("validated document has a bad histogram: %v", err)
			}
		}
	})
}

func TestWorstVerdict(t *testing.T) {
	for _, tc := range []struct {
		in   []Verdict
		want Verdict
	}{
		{nil, ""},
		{[]Verdict{VerdictNone, VerdictPass}, VerdictPass},
		{[]Verdict{VerdictPass, VerdictInconclusive, VerdictPass}, VerdictInconclusive},
		{[]Verdict{VerdictError, VerdictInconclusive}, VerdictError},
		{[]Verdict{VerdictFail, VerdictError, VerdictPass}, VerdictFail},
		{[]Verdict{VerdictNone}, VerdictNone},
	} {
		if got := WorstVerdict(tc.in...); got != tc.want {
			t.Errorf("WorstVerdict(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMirroredStage(t *testing.T) {
	if got := MirroredStage(nil); got != -1 {
		t.Errorf("no stages: %d", got)
	}
	st := []Stage{{Name: "a"}, {Name: "b"}, {Name: "c", Interrupted: true}}
	if got := MirroredStage(st); got != 1 {
		t.Errorf("last completed: %d, want 1", got)
	}
	if got := MirroredStage([]Stage{{Name: "a", Error: "boom"}}); got != 0 {
		t.Errorf("none completed: %d, want 0", got)
	}
}

func TestReadValidatesStageHistograms(t *testing.T) {
	doc := `{"schema_version": 1, "tool": {"name": "infergate"}, "targets": [], "checks": [],
		"stages": [{"name": "concurrency=2", "concurrency": 2, "checks": [], "verdict": "pass",
		"targets": [{"role": "model", "name": "m", "rounds": [{"index": 0, "histogram": "bm90IGEgaGlzdG9ncmFt"}]}]}]}`
	_, err := Read(strings.NewReader(doc))
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "concurrency=2") {
		t.Fatalf("err = %v, want ErrSchema naming the stage", err)
	}
}

// A stage keeps its own input sizes: written as input_sizes, read back
// whole, and left out for a stage without them (older readers and
// documents see what they saw before).
func TestStageInputSizesRoundTrip(t *testing.T) {
	r := sample(t)
	sizes := &InputSizes{Measure: "seq_len", Buckets: []SizeBucketDef{{Lo: 3, Hi: 9, Label: "len 3–9"}, {Lo: 10, Hi: 40, Label: "len 10–40"}}}
	r.Stages = []Stage{
		{Name: "batch=1", Concurrency: 1, BatchSize: 1, Targets: r.Targets, Checks: r.Checks, Verdict: VerdictFail},
		{Name: "batch=4", Concurrency: 1, BatchSize: 4, Targets: r.Targets, Checks: r.Checks, Verdict: VerdictFail, InputSizes: sizes},
	}
	doc := encode(t, r)
	back, err := Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if back.Stages[0].InputSizes != nil || !reflect.DeepEqual(back.Stages[1].InputSizes, sizes) {
		t.Errorf("stage sizes read back as %+v and %+v", back.Stages[0].InputSizes, back.Stages[1].InputSizes)
	}
	var m struct {
		Stages []map[string]json.RawMessage `json:"stages"`
	}
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Stages[0]["input_sizes"]; ok {
		t.Error("a stage without sizes writes input_sizes")
	}
	if _, ok := m.Stages[1]["input_sizes"]; !ok {
		t.Error("a stage with sizes lacks input_sizes")
	}
	if back.SchemaVersion != 1 {
		t.Errorf("schema_version %d: stage sizes are an additive change", back.SchemaVersion)
	}
}

func TestTestSetSameAs(t *testing.T) {
	a := &TestSet{Rows: 10, FileRows: 10, SHA256: "aa", BatchSize: 1, SizeP10: 1, SizeP50: 2, SizeP90: 3}
	b := *a
	if same, _ := a.SameAs(&b); !same {
		t.Error("identical fingerprints differ")
	}
	b.SHA256 = "bb"
	if same, why := a.SameAs(&b); same || why == "" {
		t.Error("different hashes agree")
	}
	c := *a
	c.SizeP90 = 4
	if same, _ := a.SameAs(&c); same {
		t.Error("different size quantiles of same-size batches agree")
	}
	if same, _ := a.SameAs(nil); !same {
		t.Error("an old document without a fingerprint is flagged")
	}
	// The same file batched 4 rows at a time: bigger batches, the same
	// test set.
	d := *a
	d.BatchSize, d.SizeP10, d.SizeP50, d.SizeP90 = 4, 4, 8, 12
	if same, why := a.SameAs(&d); !same {
		t.Errorf("the same file at another batch size is a different test set: %s", why)
	}
	// Without hashes, quantiles at different batch sizes say nothing either.
	a2, d2 := *a, d
	a2.SHA256, d2.SHA256 = "", ""
	if same, why := a2.SameAs(&d2); !same {
		t.Errorf("unhashed fingerprints at different batch sizes: %s", why)
	}
	// An older document does not say its batch size: compare as before.
	old := c
	old.BatchSize = 0
	if same, _ := a.SameAs(&old); same {
		t.Error("different quantiles against a document without a batch size agree")
	}
	// --rows 5 of the same file is another test set.
	e := *a
	e.Rows = 5
	if same, why := a.SameAs(&e); same || !strings.Contains(why, "5") {
		t.Errorf("5 of 10 rows agree with all 10 (%q)", why)
	}
	// Documents from before FileRows kept the file's row count in Rows,
	// whatever --rows used: against one, only the files' sizes compare.
	oldDoc := TestSet{Rows: 10, SHA256: "aa", BatchSize: 1, SizeP10: 1, SizeP50: 2, SizeP90: 3}
	if same, why := e.SameAs(&oldDoc); !same {
		t.Errorf("--rows 5 against an older document of the same 10-row file: %s", why)
	}
	if same, why := oldDoc.SameAs(&e); !same {
		t.Errorf("the other way round: %s", why)
	}
	other := oldDoc
	other.Rows, other.SHA256 = 12, ""
	if same, why := e.SameAs(&other); same || !strings.Contains(why, "12") {
		t.Errorf("a 12-row file agrees with a 10-row one (%q)", why)
	}
}
