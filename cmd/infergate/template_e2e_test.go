package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/infergate/infergate/internal/kservetest"
	"github.com/infergate/infergate/result"
)

// writeTestParquet writes one record of the given columns to dir/name with
// pqarrow, as a user's export would.
func writeTestParquet(t *testing.T, dir, name string, fields []arrow.Field, fill func(*array.RecordBuilder)) string {
	t.Helper()
	sc := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
	defer b.Release()
	fill(b)
	rec := b.NewRecordBatch()
	defer rec.Release()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// textParquet writes a nullable "text" column: nil entries are nulls.
func textParquet(t *testing.T, texts []*string) string {
	return writeTestParquet(t, t.TempDir(), "text.parquet",
		[]arrow.Field{{Name: "text", Type: arrow.BinaryTypes.String, Nullable: true}},
		func(b *array.RecordBuilder) {
			for _, s := range texts {
				if s == nil {
					b.Field(0).AppendNull()
				} else {
					b.Field(0).(*array.StringBuilder).Append(*s)
				}
			}
		})
}

// textServer is a JSON API that takes {"text": ...}: it records every text
// it gets and answers 500 to a null text (as a real service might).
type textServer struct {
	mu    sync.Mutex
	got   map[string]int
	nulls int
	bad   []string // bodies that were not {"text": string|null}
}

func (s *textServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req map[string]json.RawMessage
	err := json.Unmarshal(body, &req)
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, ok := req["text"]
	var text string
	switch {
	case err != nil || !ok || len(req) != 1:
		s.bad = append(s.bad, string(body))
	case string(raw) == "null":
		s.nulls++
		http.Error(w, "text is null", http.StatusInternalServerError)
		return
	case json.Unmarshal(raw, &text) != nil:
		s.bad = append(s.bad, string(body))
	default:
		if s.got == nil {
			s.got = map[string]int{}
		}
		s.got[text]++
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"label": "positive"}`))
}

func startTextServer(t *testing.T) (*textServer, string) {
	s := &textServer{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL + "/predict"
}

// templateRun gates the API against itself on dataset, judging the
// candidate's error rate.
func templateRun(url, dataset string, extra ...string) []string {
	return append([]string{"run", "--production-url", url, "--candidate-url", url, "--protocol", "http",
		"--request-template", `{"text": {{json .Row.text}}}`, "--response-path", "label",
		"--dataset", dataset, "--requests", "40", "--rounds", "2", "--warmup", "4", "--max-error-rate", "0.01", "--quiet"}, extra...)
}

func ptr(s string) *string { return &s }

// TestTemplateSendsText: a text column reaches the API as the exact
// strings of the Parquet file, awkward characters and all.
func TestTemplateSendsText(t *testing.T) {
	texts := []string{"I loved it", "", "naïve café ☕", `quote " and \ backslash`, "line\nbreak\ttab", "<b>&amp;</b>", "emoji 🙂", "\u2028 separator"}
	var rows []*string
	for _, s := range texts {
		rows = append(rows, ptr(s))
	}
	srv, url := startTextServer(t)
	out := filepath.Join(t.TempDir(), "r.json")
	r := runCLI(t, context.Background(), "1", append(templateRun(url, textParquet(t, rows)), "--json", out)...)
	if r.code != ExitPass {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.bad) > 0 || srv.nulls > 0 {
		t.Fatalf("bad bodies %q, %d nulls", srv.bad, srv.nulls)
	}
	got := slices.Sorted(func(yield func(string) bool) {
		for s := range srv.got {
			if !yield(s) {
				return
			}
		}
	})
	if want := slices.Sorted(slices.Values(texts)); !slices.Equal(got, want) {
		t.Errorf("the server got %q, want %q", got, want)
	}
	for _, m := range readResult(t, out).Targets {
		if m.Errors.Total != 0 || m.Latency.Count != 40 {
			t.Errorf("%s: errors %+v, %d calls measured; want 40 without errors", m.Role, m.Errors, m.Latency.Count)
		}
	}
}

// TestTemplateNullRowsCountUnderNull: rows whose text is null go out as
// JSON null; the API fails them, and the errors count under the input
// class "null", with those rows as examples, in the result and the table.
func TestTemplateNullRowsCountUnderNull(t *testing.T) {
	rows := []*string{ptr("a"), ptr("b"), nil, ptr("c"), ptr("d"), nil, ptr("e"), ptr("f")}
	srv, url := startTextServer(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "r.json")
	md := filepath.Join(dir, "r.md")
	r := runCLI(t, context.Background(), "1", append(templateRun(url, textParquet(t, rows)), "--json", out, "--markdown", md)...)
	if r.code != ExitRegression {
		t.Fatalf("exit %d, want %d (a quarter of the calls fail): %s", r.code, ExitRegression, r.stderr)
	}
	if srv.nulls == 0 || len(srv.bad) > 0 {
		t.Fatalf("the server got %d null texts and bad bodies %q", srv.nulls, srv.bad)
	}
	res := readResult(t, out)
	m := res.Target(result.RoleCandidate)
	if m.Errors.Total == 0 || m.Errors.ByClass["null"] != m.Errors.Total || len(m.Errors.ByClass) != 1 {
		t.Errorf("errors %+v: want every one under the class null", m.Errors)
	}
	if ex := slices.Sorted(slices.Values(m.Errors.Examples["http_5xx"])); !slices.Equal(ex, []int64{2, 5}) {
		t.Errorf("example rows %v, want [2 5]", ex)
	}
	if !hasLine(r.stdout, "errors by input", "null") {
		t.Errorf("the table has no errors-by-input row for null:\n%s", r.stdout)
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	// The Markdown errors table names the class alone.
	row := fmt.Sprintf("| null | %d | %d |", res.Target(result.RoleProduction).Errors.ByClass["null"], m.Errors.ByClass["null"])
	if !hasLine(string(b), row) {
		t.Errorf("the Markdown report has no errors-by-input row %q:\n%s", row, b)
	}
}

// hasLine reports whether some line of text holds every fragment.
func hasLine(text string, fragments ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		if !slices.ContainsFunc(fragments, func(f string) bool { return !strings.Contains(line, f) }) {
			return true
		}
	}
	return false
}

// TestTemplateNamesUnsentColumn: a column the loader cannot give a
// template is refused by name before anything connects.
func TestTemplateNamesUnsentColumn(t *testing.T) {
	path := writeTestParquet(t, t.TempDir(), "ts.parquet", []arrow.Field{
		{Name: "text", Type: arrow.BinaryTypes.String},
		{Name: "meta", Type: arrow.StructOf(arrow.Field{Name: "k", Type: arrow.PrimitiveTypes.Int32})},
	}, func(b *array.RecordBuilder) {
		for i := range 3 {
			b.Field(0).(*array.StringBuilder).Append("x")
			sb := b.Field(1).(*array.StructBuilder)
			sb.Append(true)
			sb.FieldBuilder(0).(*array.Int32Builder).Append(int32(i))
		}
	})
	for _, tmpl := range []string{`{"m": {{json .Row.meta}}}`, `{"m": {{json (index .Row "meta")}}}`, `[{{range .Rows}}{{json .meta.k}}{{end}}]`} {
		r := runCLI(t, context.Background(), "1", "bench", "--url", "http://127.0.0.1:1/predict", "--protocol", "http",
			"--request-template", tmpl, "--dataset", path, "--requests", "4", "--rounds", "2", "--quiet")
		if r.code != ExitBadInput || !strings.Contains(r.stderr, "uses column meta, whose type struct") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line naming column meta", tmpl, r.code, r.stderr)
		}
	}
	// A template that leaves the column alone runs (and fails to connect).
	r := runCLI(t, context.Background(), "1", "bench", "--url", "http://127.0.0.1:1/predict", "--protocol", "http",
		"--request-template", `{"t": {{json .Row.text}}}`, "--dataset", path, "--requests", "4", "--rounds", "2", "--quiet")
	if strings.Contains(r.stderr, "meta") {
		t.Errorf("a template without meta was refused for it: %s", r.stderr)
	}
}

// markerModel is a KServe model that fails a request holding the value
// marker: what a --nulls fill pad value looks like to a server that
// rejects it.
type markerModel struct {
	kservetest.SumModel
	marker float64
}

func (m *markerModel) Infer(ins []kservetest.Tensor) ([]kservetest.Tensor, error) {
	for _, in := range ins {
		if slices.Contains(in.Data, m.marker) {
			return nil, errors.New("input holds the marker")
		}
	}
	return m.SumModel.Infer(ins)
}

// TestNullsFillKServe: a tensor input refuses a null column by default,
// naming --nulls fill; with it, the pad value goes out in its place and
// the server's errors on those rows count under the input class null.
func TestNullsFillKServe(t *testing.T) {
	s, err := kservetest.Start(kservetest.Options{Model: &markerModel{
		SumModel: kservetest.SumModel{In: []kservetest.TensorMeta{{Name: "x", Datatype: "FP32", Shape: []int64{-1}}}},
		marker:   -7,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	path := writeTestParquet(t, t.TempDir(), "x.parquet", []arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "text", Type: arrow.BinaryTypes.String},
	}, func(b *array.RecordBuilder) {
		for i := range 8 {
			if i == 1 || i == 6 {
				b.Field(0).AppendNull()
			} else {
				b.Field(0).(*array.Float32Builder).Append(float32(i))
			}
			b.Field(1).(*array.StringBuilder).Append("t")
		}
	})
	args := []string{"run", "--production-url", s.ModelURL(), "--candidate-url", s.ModelURL(), "--dataset", path,
		"--requests", "40", "--rounds", "2", "--warmup", "4", "--quiet"}

	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "column x row 1 is null") || !strings.Contains(r.stderr, "--nulls fill") {
		t.Errorf("nulls refused: exit %d, stderr %q", r.code, r.stderr)
	}

	out := filepath.Join(t.TempDir(), "r.json")
	r = runCLI(t, context.Background(), "1", append(args, "--nulls", "fill", "--pad-value", "-7", "--max-error-rate", "0.01", "--json", out)...)
	if r.code != ExitRegression {
		t.Fatalf("exit %d, want %d: %s", r.code, ExitRegression, r.stderr)
	}
	m := readResult(t, out).Target(result.RoleCandidate)
	if m.Errors.Total == 0 || m.Errors.ByClass["null"] != m.Errors.Total {
		t.Errorf("errors %+v: want every one under the class null", m.Errors)
	}
	if ex := slices.Sorted(slices.Values(m.Errors.Examples["http_4xx"])); !slices.Equal(ex, []int64{1, 6}) {
		t.Errorf("example rows %v, want [1 6]", ex)
	}

	// A text column bound to the tensor input is refused by name.
	r = runCLI(t, context.Background(), "1", append(args, "--input-map", "x=text")...)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "column text has type utf8 (text)") || !strings.Contains(r.stderr, "model input x") {
		t.Errorf("text for a tensor: exit %d, stderr %q", r.code, r.stderr)
	}
	// --nulls takes refuse or fill only.
	r = runCLI(t, context.Background(), "1", append(args, "--nulls", "zero")...)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "want refuse or fill") {
		t.Errorf("--nulls zero: exit %d, stderr %q", r.code, r.stderr)
	}
}
