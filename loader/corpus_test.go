package loader

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir locates apache/parquet-testing, checked out beside the repo in
// shared/. Without it the corpus tests skip, except in CI where a missing
// corpus means the tests silently stopped testing anything.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "parquet-testing")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		if os.Getenv("CI") != "" {
			t.Fatalf("parquet-testing corpus not found at %s", dir)
		}
		t.Skipf("parquet-testing corpus not found at %s", dir)
	}
	return dir
}

func corpusFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".parquet") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no parquet files under %s", dir)
	}
	return out
}

// bindAnything binds every column the loader can read, each to an input
// of the most permissive shape and type, so reading exercises every
// decoder the file needs.
func bindAnything(ds *Dataset) (*Binding, error) {
	var inputs []InputSpec
	for _, f := range ds.fields {
		_, src, _, err := classifyColumn(f.Type)
		if err != nil {
			continue
		}
		shape := []int64{-1}
		switch src {
		case srcFixedList, srcList:
			shape = []int64{-1, -1}
		case srcNested:
			shape = []int64{-1, -1, -1}
		}
		inputs = append(inputs, InputSpec{Name: f.Name, DType: Float64, Shape: shape})
	}
	if len(inputs) == 0 {
		return nil, errors.New("no bindable column")
	}
	return NewBinding(ds, inputs, BindOptions{})
}

// exercise opens path and, if that works, reads every batch streamed and
// shuffled. It returns the first error; a panic escaping the loader fails
// the whole test binary, which is the point.
func exercise(path string) (rows int64, err error) {
	ds, err := Open(path, ReadOptions{})
	if err != nil {
		return 0, err
	}
	defer ds.Close()
	b, err := bindAnything(ds)
	if err != nil {
		// Still stream something: a fill-only binding over the rows.
		b, err = NewBinding(ds, []InputSpec{{Name: "z", DType: Float32, Shape: []int64{-1}}},
			BindOptions{Fills: []Fill{{Input: "z", Zeros: true}}})
		if err != nil {
			return 0, err
		}
	}
	for _, shuffle := range []bool{false, true} {
		src, err := NewSource(ds, []*Binding{b}, SourceOptions{BatchSize: 64, Shuffle: shuffle, Seed: 1})
		if err != nil {
			return rows, err
		}
		for {
			batch, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				src.Close()
				return rows, err
			}
			rows += int64(batch.Rows)
		}
		// Rewind after a full read must work too.
		if err := src.Rewind(); err != nil {
			src.Close()
			return rows, err
		}
		if err := src.Close(); err != nil {
			return rows, err
		}
	}
	return rows, nil
}

func TestBadDataNeverPanics(t *testing.T) {
	dir := corpusDir(t)
	files := corpusFiles(t, filepath.Join(dir, "bad_data"))
	files = append(files, filepath.Join(dir, "data", "unknown-logical-type.parquet"))
	for _, p := range files {
		rows, err := exercise(p)
		if err != nil {
			wantInputErr(t, err)
		}
		t.Logf("%s: %d rows, err=%v", filepath.Base(p), rows, err)
	}
}

func TestCorpusSmoke(t *testing.T) {
	dir := corpusDir(t)
	ok := 0
	for _, p := range corpusFiles(t, filepath.Join(dir, "data")) {
		rows, err := exercise(p)
		if err != nil {
			if errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: %v", p, err)
			}
			t.Logf("%s: %v", filepath.Base(p), err)
			continue
		}
		ok++
		t.Logf("%s: %d rows", filepath.Base(p), rows)
	}
	if ok == 0 {
		t.Error("no corpus file could be read")
	}
}

func FuzzOpen(f *testing.F) {
	f.Add([]byte("PAR1"))
	good, err := os.ReadFile(mixedFile(f, 20))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	dir := filepath.Join("..", "..", "shared", "parquet-testing")
	if _, err := os.Stat(dir); err == nil {
		for _, sub := range []string{"bad_data", "data"} {
			for _, p := range corpusFiles(f, filepath.Join(dir, sub)) {
				// Large seeds slow every fuzz iteration; the small ones
				// already cover the decoders.
				if st, err := os.Stat(p); err == nil && st.Size() <= 64<<10 {
					b, err := os.ReadFile(p)
					if err == nil {
						f.Add(b)
					}
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "fuzz.parquet")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := exercise(p); err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("multi-line error: %q", err)
		}
	})
}

func TestPlausibleArrowSchema(t *testing.T) {
	// Every schema arrow itself stores must pass, or fixed-size lists
	// would silently degrade to lists.
	ds := openChecked(t, mixedFile(t, 2))
	found := false
	for _, kv := range ds.pf.MetaData().KeyValueMetadata() {
		if kv.Key == arrowSchemaKey {
			found = true
		}
	}
	if !found {
		t.Fatal("stored arrow schema was rejected")
	}
	if plausibleArrowSchema("") || plausibleArrowSchema("!!!") || plausibleArrowSchema("/////////w==") {
		t.Error("garbage accepted")
	}
}
