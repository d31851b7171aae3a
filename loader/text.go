package loader

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Text columns feed String inputs, which only a request template takes: a
// JSON API's commonest input is a string ({"text": "..."}). Binary values
// travel as standard base64, the way JSON APIs carry bytes (TF Serving's
// {"b64": ...}, image payloads), rather than being refused: JSON has no
// bytes, and refusing would leave an image API untestable.

// isText reports whether an arrow type holds text or bytes per row.
func isText(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW,
		arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return true
	}
	return false
}

// bytesValuer is every arrow array of bytes per row.
type bytesValuer interface{ Value(int) []byte }

// copyText copies n values of src from srcOff into dst at dstOff,
// dstOff+stride, ... as Go-owned strings (arrow's point into its buffers,
// which the stream releases). Nulls are not checked here.
func copyText(dst []string, dstOff, stride int, src arrow.Array, srcOff, n int) {
	switch a := src.(type) {
	case array.StringLike:
		for i := range n {
			dst[dstOff+i*stride] = strings.Clone(a.Value(srcOff + i))
		}
	case bytesValuer:
		for i := range n {
			dst[dstOff+i*stride] = base64.StdEncoding.EncodeToString(a.Value(srcOff + i))
		}
	default:
		panic(fmt.Sprintf("loader: text from column array %T", src))
	}
}

// JSONInputs declares one input per column for a consumer that sends
// each row's values as JSON and has no metadata of its own (an HTTP API
// driven by a request template): floats as float64, integers as int64
// (uint64 as float64), bool, text as String, lists of those numbers as
// rows of a free length; every input is Nullable. Columns that cannot be
// sent so (structs, maps, timestamps, lists of text, ...) come back in
// unsent, so that a template naming one can be refused by name instead
// of failing on a missing key.
func (d *Dataset) JSONInputs() (inputs []InputSpec, unsent []Column) {
	for i, f := range d.fields {
		spec := InputSpec{Name: f.Name, Shape: []int64{-1}, Nullable: true}
		if isText(f.Type) {
			spec.DType = String
			inputs = append(inputs, spec)
			continue
		}
		elem, src, _, err := classifyColumn(f.Type)
		if err != nil {
			unsent = append(unsent, d.columns[i])
			continue
		}
		switch src {
		case srcFixedList, srcList:
			spec.Shape = []int64{-1, -1}
		case srcNested:
			spec.Shape = []int64{-1, -1, -1}
		}
		switch c, bits := elemInfo(elem); {
		case c == classFloat, c == classUnsigned && bits == 64:
			spec.DType = Float64
		case c == classSigned, c == classUnsigned:
			spec.DType = Int64
		case c == classBool:
			spec.DType = Bool
		}
		inputs = append(inputs, spec)
	}
	return inputs, unsent
}
