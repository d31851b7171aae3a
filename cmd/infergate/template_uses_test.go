package main

import (
	"slices"
	"testing"

	"github.com/infergate/infergate/loader"
)

// TestUsedInputs: a request template binds the columns it names, so a
// null in a column it never reads does not file its batch under "null";
// a template that passes whole rows on keeps them all.
func TestUsedInputs(t *testing.T) {
	inputs := []loader.InputSpec{{Name: "text"}, {Name: "lang"}, {Name: "notes"}}
	for _, tc := range []struct {
		tmpl string
		want []string
	}{
		{`{"text": {{json .Row.text}}}`, []string{"text"}},
		{`{"q": {{json .Inputs.text}}, "l": {{json .Inputs.lang}}}`, []string{"text", "lang"}},
		{`{"rows": [{{range $i, $r := .Rows}}{{if $i}},{{end}}{{json $r.text}}{{end}}]}`, []string{"text", "lang", "notes"}},
		{`{"rows": {{json .Rows}}}`, []string{"text", "lang", "notes"}},
		{`{"n": {{.NumRows}}}`, []string{"text", "lang", "notes"}},        // names no column
		{`{"text": {{json .Row.text}`, []string{"text", "lang", "notes"}}, // does not parse
	} {
		var got []string
		for _, in := range usedInputs(parseTemplateUses(tc.tmpl), inputs) {
			got = append(got, in.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: binds %v, want %v", tc.tmpl, got, tc.want)
		}
	}
}
