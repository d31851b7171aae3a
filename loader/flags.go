package loader

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/infergate/infergate/internal/errkind"
)

// Fill supplies a model input the dataset lacks with a constant tensor
// (--fill NAME=VALUE).
type Fill struct {
	Input string
	// Zeros is set for the value "zeros".
	Zeros bool
	// Value is the constant when !Zeros.
	Value float64
	// Shape is an explicit shape, from "zeros[2,1,128]" or "0.5[4]". nil
	// means the model's declared shape, with its first free dimension set
	// to the batch's row count.
	Shape []int64
	// Scalar is set when the value was written with "[]", asking for a 0-d
	// tensor. An input the model declares 0-d gets a 0-d tensor anyway.
	Scalar bool
}

// String renders the fill the way it is written on the command line.
func (f Fill) String() string {
	v := "zeros"
	if !f.Zeros {
		v = strconv.FormatFloat(f.Value, 'g', -1, 64)
	}
	switch {
	case f.Scalar:
		v += "[]"
	case f.Shape != nil:
		v += formatDims(f.Shape)
	}
	return f.Input + "=" + v
}

// ParseFill parses a --fill flag value: "name=zeros", "name=0.5",
// "state=zeros[2,1,128]", "x=0.5[4]", "sr=16000" or "sr=16000[]" (0-d).
func ParseFill(s string) (Fill, error) {
	bad := func(format string, a ...any) (Fill, error) {
		return Fill{}, errkind.Input(fmt.Errorf("--fill %s: "+format, append([]any{flagText(s)}, a...)...))
	}
	name, val, ok := strings.Cut(s, "=")
	name, val = strings.TrimSpace(name), strings.TrimSpace(val)
	if !ok || name == "" || val == "" {
		return bad("want NAME=VALUE, e.g. state=zeros or sr=16000")
	}
	f := Fill{Input: name}
	if i := strings.IndexByte(val, '['); i >= 0 {
		dims := val[i:]
		val = strings.TrimSpace(val[:i])
		if !strings.HasSuffix(dims, "]") {
			return bad("shape %s is missing its closing ]", flagText(dims))
		}
		inner := strings.TrimSpace(dims[1 : len(dims)-1])
		if inner == "" {
			f.Scalar = true
			f.Shape = []int64{}
		} else {
			for _, p := range strings.Split(inner, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
				if err != nil || n < 1 {
					return bad("shape %s: each dimension must be a positive integer", flagText(dims))
				}
				f.Shape = append(f.Shape, n)
			}
		}
	}
	if val == "zeros" {
		f.Zeros = true
		return f, nil
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return bad("value %q is neither \"zeros\" nor a number", val)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return bad("value must be a finite number")
	}
	f.Value = v
	return f, nil
}

// ParseInputMap parses an --input-map flag value: "input=column",
// "features=f0,f1,f2" or "features=f*" (a path.Match glob).
func ParseInputMap(s string) (input, columns string, err error) {
	bad := func(format string, a ...any) (string, string, error) {
		return "", "", errkind.Input(fmt.Errorf("--input-map %s: "+format, append([]any{flagText(s)}, a...)...))
	}
	input, columns, ok := strings.Cut(s, "=")
	input, columns = strings.TrimSpace(input), strings.TrimSpace(columns)
	if !ok || input == "" || columns == "" {
		return bad("want INPUT=COLUMN, INPUT=COL1,COL2 or INPUT=GLOB")
	}
	for _, c := range strings.Split(columns, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			return bad("empty column name in list")
		}
		if _, err := path.Match(c, ""); err != nil {
			return bad("bad glob %q", c)
		}
	}
	return input, columns, nil
}

// ValidateFills reports fills that name an input no model has, and inputs
// filled twice. A fill only needs to match one of the models: the candidate
// and production models may differ in inputs.
func ValidateFills(fills []Fill, models ...[]InputSpec) error {
	names := inputNames(models)
	seen := map[string]bool{}
	for _, f := range fills {
		if seen[f.Input] {
			return errkind.Input(fmt.Errorf("--fill %s is given more than once", f.Input))
		}
		seen[f.Input] = true
		if _, ok := names.set[f.Input]; !ok {
			return errkind.Input(fmt.Errorf("--fill %s: no model has an input named %s (inputs: %s)",
				f.Input, f.Input, names.list))
		}
	}
	return nil
}

// ValidateInputMap reports --input-map entries that name an input no model
// has.
func ValidateInputMap(m map[string]string, models ...[]InputSpec) error {
	names := inputNames(models)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := names.set[k]; !ok {
			return errkind.Input(fmt.Errorf("--input-map %s: no model has an input named %s (inputs: %s)",
				k, k, names.list))
		}
	}
	return nil
}

type nameSet struct {
	set  map[string]struct{}
	list string
}

func inputNames(models [][]InputSpec) nameSet {
	ns := nameSet{set: map[string]struct{}{}}
	var order []string
	for _, m := range models {
		for _, in := range m {
			if _, ok := ns.set[in.Name]; !ok {
				ns.set[in.Name] = struct{}{}
				order = append(order, in.Name)
			}
		}
	}
	ns.list = strings.Join(order, ", ")
	if ns.list == "" {
		ns.list = "none"
	}
	return ns
}

// flagText is a flag value as an error message shows it: as given, or
// quoted when it holds a line break or another control character, so that
// the message stays on one line.
func flagText(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// formatDims renders a shape as "[2,1,128]", free dims as -1.
func formatDims(dims []int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
