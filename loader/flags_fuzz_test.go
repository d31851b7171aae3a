package loader

import (
	"reflect"
	"strings"
	"testing"
)

// Flag values are outside input: the parsers below must never panic, keep
// their errors on one line (they end up in a terminal, a log and a JUnit
// message), and read back what they print.

func fzOneLine(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && strings.ContainsAny(err.Error(), "\n\r") {
		t.Fatalf("%s: error spans lines: %q", what, err.Error())
	}
}

// FuzzParseFill: --fill NAME=VALUE[SHAPE]. A parsed fill has a name, a
// finite value, positive dimensions, and reads back from its String form.
func FuzzParseFill(f *testing.F) {
	for _, s := range []string{
		"state=zeros", "sr=16000", "x=0.5[4]", "state=zeros[2,1,128]", "sr=16000[]", " h = zeros [ 2 , 1 ] ",
		"x=-0", "x=1e308", "x=1e309", "x=NaN", "x=0x1p-2", "x=zeros[0]", "x=zeros[-1]", "x=zeros[1,]", "x=zeros[2",
		"x=zeros]", "x=[]", "=1", "x=", "x", "x\ny", "a=b=c", "x=zeros[9223372036854775808]", "x\n=1", "x=1[\n]", "x=1[2\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fill, err := ParseFill(s)
		fzOneLine(t, "ParseFill", err)
		if err != nil {
			return
		}
		if fill.Input == "" || fill.Input != strings.TrimSpace(fill.Input) {
			t.Fatalf("ParseFill(%q) = %+v: bad name", s, fill)
		}
		if fill.Scalar != (fill.Shape != nil && len(fill.Shape) == 0) {
			t.Fatalf("ParseFill(%q) = %+v: Scalar and Shape disagree", s, fill)
		}
		for _, d := range fill.Shape {
			if d < 1 {
				t.Fatalf("ParseFill(%q) = %+v: dimension %d", s, fill, d)
			}
		}
		back, err := ParseFill(fill.String())
		if err != nil || !reflect.DeepEqual(back, fill) {
			t.Fatalf("ParseFill(%q) = %+v, whose String %q reads back as %+v, %v", s, fill, fill.String(), back, err)
		}
	})
}

// FuzzParseInputMap: --input-map INPUT=COLUMNS. A parsed map has trimmed,
// non-empty parts, every column a valid glob, and reads back the same.
func FuzzParseInputMap(f *testing.F) {
	for _, s := range []string{
		"input=column", "features=f0,f1,f2", "features=f*", " x = a , b ", "x=[", "x=a,,b", "x=", "=a", "x", "x=a=b",
		"x=\\", "x=[a-", "x\ny", "x\n=a", "x=a\n,b", "x=[]a]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in, cols, err := ParseInputMap(s)
		fzOneLine(t, "ParseInputMap", err)
		if err != nil {
			return
		}
		if in == "" || cols == "" || in != strings.TrimSpace(in) || cols != strings.TrimSpace(cols) {
			t.Fatalf("ParseInputMap(%q) = %q, %q", s, in, cols)
		}
		in2, cols2, err := ParseInputMap(in + "=" + cols)
		if err != nil || in2 != in || cols2 != cols {
			t.Fatalf("ParseInputMap(%q) = %q, %q, which reads back as %q, %q, %v", s, in, cols, in2, cols2, err)
		}
	})
}

// FuzzParseDType: element type names (in the worker protocol and saved
// results). ParseDType is the inverse of String.
func FuzzParseDType(f *testing.F) {
	for _, s := range []string{"float32", "float16", "bool", "unknown", "dtype(99)", "", "FLOAT32"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDType(s)
		fzOneLine(t, "ParseDType", err)
		if err != nil {
			return
		}
		if d == DTypeUnknown || d.String() != s || d.ElemSize() == 0 {
			t.Fatalf("ParseDType(%q) = %v", s, d)
		}
	})
}
