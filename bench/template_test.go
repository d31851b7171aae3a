package bench

import (
	"bytes"
	"encoding/json"
	"testing"
	"text/template"

	"github.com/infergate/infergate/loader"
)

// TestTemplateTextAndNulls: a template gets text as strings and a null
// row as nil, which json writes as null, in .Row, .Rows and .Inputs alike.
func TestTemplateTextAndNulls(t *testing.T) {
	b := BlockBatch{Rows: 3, Tensors: []loader.Tensor{
		{Name: "text", DType: loader.String, Shape: []int64{3}, Data: []string{`say "hi"`, "", "ünï"}, Null: []bool{false, true, false}},
		{Name: "vec", DType: loader.Float64, Shape: []int64{3, 2}, Data: []float64{1, 2, 0, 0, 5, 6}, Null: []bool{false, true, false}},
		{Name: "n", DType: loader.Int64, Shape: []int64{3}, Data: []int64{7, 8, 9}},
	}}
	view, err := templateView(b)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New("t").Option("missingkey=error").Funcs(template.FuncMap{"json": templateJSON}).Parse(
		`{"texts": {{json .Inputs.text}}, "vecs": {{json .Inputs.vec}}, "n": {{json .Inputs.n}}, "rows": [{{range $i, $r := .Rows}}{{if $i}},{{end}}{"t": {{json $r.text}}, "v": {{json $r.vec}}}{{end}}]}`))
	var out bytes.Buffer
	if err := tmpl.Execute(&out, view); err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%s: %v", out.String(), err)
	}
	if err := json.Unmarshal([]byte(`{"texts": ["say \"hi\"", null, "ünï"], "vecs": [[1, 2], null, [5, 6]], "n": [7, 8, 9],
		"rows": [{"t": "say \"hi\"", "v": [1, 2]}, {"t": null, "v": null}, {"t": "ünï", "v": [5, 6]}]}`), &want); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(got, want) {
		t.Errorf("rendered %s", out.String())
	}

	// One row: .Row.text is the string, or null.
	for _, tc := range []struct {
		null bool
		want string
	}{{false, `{"text": "a\nb"}`}, {true, `{"text": null}`}} {
		one := BlockBatch{Rows: 1, Tensors: []loader.Tensor{{Name: "text", DType: loader.String, Shape: []int64{1}, Data: []string{"a\nb"}}}}
		if tc.null {
			one.Tensors[0].Null, one.Tensors[0].Data = []bool{true}, []string{""}
		}
		c := &httpJSON{tmpl: template.Must(template.New("r").Option("missingkey=error").Funcs(template.FuncMap{"json": templateJSON}).Parse(`{"text": {{json .Row.text}}}`)), jsonBody: true, sendsBody: true}
		req, err := c.prepare(one)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(req.(*httpJSONRequest).body); got != tc.want {
			t.Errorf("null=%v: body %s, want %s", tc.null, got, tc.want)
		}
	}

	// A mask of the wrong length is refused, not indexed past its end.
	bad := BlockBatch{Rows: 2, Tensors: []loader.Tensor{{Name: "text", DType: loader.String, Shape: []int64{2}, Data: []string{"a", "b"}, Null: []bool{true}}}}
	if _, err := templateView(bad); err == nil {
		t.Error("a null mask of 1 entry for 2 rows was accepted")
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
