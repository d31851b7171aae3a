package loader

import (
	"reflect"
	"testing"
)

func TestParseFill(t *testing.T) {
	cases := []struct {
		in   string
		want Fill
	}{
		{"name=zeros", Fill{Input: "name", Zeros: true}},
		{"name=0.5", Fill{Input: "name", Value: 0.5}},
		{"sr=16000", Fill{Input: "sr", Value: 16000}},
		{"state=zeros[2,1,128]", Fill{Input: "state", Zeros: true, Shape: []int64{2, 1, 128}}},
		{"x=0.5[4]", Fill{Input: "x", Value: 0.5, Shape: []int64{4}}},
		{"sr=16000[]", Fill{Input: "sr", Value: 16000, Shape: []int64{}, Scalar: true}},
		{" t = -1 ", Fill{Input: "t", Value: -1}},
	}
	for _, c := range cases {
		got, err := ParseFill(c.in)
		if err != nil {
			t.Errorf("ParseFill(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseFill(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", "name", "=zeros", "name=", "x=abc", "x=zeros[2", "x=zeros[0]", "x=1[a]", "x=nan", "x=1[-1]"} {
		_, err := ParseFill(bad)
		wantInputErr(t, err, "--fill")
	}
	if s := (Fill{Input: "s", Zeros: true, Shape: []int64{2, 1}}).String(); s != "s=zeros[2,1]" {
		t.Errorf("String = %q", s)
	}
}

func TestParseInputMap(t *testing.T) {
	for in, want := range map[string][2]string{
		"input=column":      {"input", "column"},
		"features=f0,f1,f2": {"features", "f0,f1,f2"},
		"features=f*":       {"features", "f*"},
	} {
		i, c, err := ParseInputMap(in)
		if err != nil || i != want[0] || c != want[1] {
			t.Errorf("ParseInputMap(%q) = %q, %q, %v", in, i, c, err)
		}
	}
	for _, bad := range []string{"x", "=c", "x=", "x=a,,b", "x=[", "x=a,"} {
		_, _, err := ParseInputMap(bad)
		wantInputErr(t, err, "--input-map")
	}
}

func TestValidateFills(t *testing.T) {
	cand := []InputSpec{{Name: "x", DType: Float32}, {Name: "state", DType: Float32}}
	prod := []InputSpec{{Name: "x", DType: Float32}, {Name: "sr", DType: Int64}}
	ok := []Fill{{Input: "state", Zeros: true}, {Input: "sr", Value: 16000}}
	if err := ValidateFills(ok, cand, prod); err != nil {
		t.Fatalf("ValidateFills: %v", err)
	}
	err := ValidateFills([]Fill{{Input: "nope", Zeros: true}}, cand, prod)
	wantInputErr(t, err, "--fill nope", "no model has an input named nope", "(inputs: x, state, sr)")
	err = ValidateFills([]Fill{{Input: "sr"}, {Input: "sr", Zeros: true}}, cand, prod)
	wantInputErr(t, err, "--fill sr is given more than once")

	if err := ValidateInputMap(map[string]string{"x": "col"}, cand, prod); err != nil {
		t.Fatal(err)
	}
	err = ValidateInputMap(map[string]string{"y": "col"}, cand, prod)
	wantInputErr(t, err, "--input-map y", "(inputs: x, state, sr)")
}
