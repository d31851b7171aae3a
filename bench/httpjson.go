package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/apache/arrow-go/v18/arrow/float16"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
)

// HTTPJSONConfig configures a target for any HTTP API that takes JSON: the
// request body is a Go text/template over the batch (see TemplateBatch).
type HTTPJSONConfig struct {
	RemoteConfig
	// Method is the HTTP method; "" means POST.
	Method string
	// RequestTemplate is the body's template. It sees a TemplateBatch and
	// has a json function that writes any value as JSON, e.g.
	//
	//	{"features": {{json .Row.features}}}
	//	{"instances": {{json .Inputs.features}}}
	//	{"rows": [{{range $i, $r := .Rows}}{{if $i}},{{end}}{"x": {{json $r.x}}}{{end}}]}
	//
	// A key that the batch lacks is an error, not an empty value.
	RequestTemplate string
	// ContentType of the body; "" means application/json, in which case
	// the rendered body must be valid JSON.
	ContentType string
	// ResponsePath, when set, must exist in every answer's JSON for the
	// call to count as a success: dotted keys, numbers index arrays
	// ("outputs.0.data", "predictions").
	ResponsePath string
	// Inputs are the tensors the template gets: an arbitrary API has no
	// metadata to read them from, so the command layer derives them from
	// the dataset's columns. Dimensions of -1 are free.
	Inputs []loader.InputSpec
}

// TemplateBatch is what a request template sees: one batch of rows.
// Text is a string (binary columns base64), and a row whose value is null
// in the dataset is nil, which json writes as null.
type TemplateBatch struct {
	// Inputs maps each input's name to its whole tensor as nested arrays,
	// by shape, the batch first: [[1,2],[3,4]] for 2 rows of 2 features.
	Inputs map[string]any
	// Rows has a map per row, each input's value in that row: the tensor
	// without its first dimension, a scalar when nothing is left.
	Rows []map[string]any
	// Row is Rows[0] when the batch is one row (batch size 1), nil
	// otherwise, so `.Row.x` fails loudly on bigger batches.
	Row map[string]any
	// NumRows is the number of rows in the batch.
	NumRows int
}

type httpJSON struct {
	*httpEndpoint
	method   string
	url      *url.URL
	tmpl     *template.Template
	reqHdr   http.Header
	jsonBody bool
	// sendsBody is false for GET and HEAD, which send no template.
	sendsBody bool
	path      []string
}

// NewHTTPJSON makes a target for an arbitrary HTTP JSON API at cfg.URL.
// There is no readiness protocol to wait for (ReadyTimeout is unused) and
// no metadata to read: the inputs are cfg.Inputs, and the template is
// checked by rendering a batch of one row of zeros. GET and HEAD send no
// body and need no template. An answer counts as a success when its status is
// 2xx and, with ResponsePath, its JSON has that path.
func NewHTTPJSON(ctx context.Context, cfg HTTPJSONConfig) (Target, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errkind.Input(fmt.Errorf("endpoint URL %s: want http(s)://HOST[:PORT]/PATH", RedactURL(cfg.URL)))
	}
	method := strings.ToUpper(cfg.Method)
	if method == "" {
		method = http.MethodPost
	}
	sendsBody := method != http.MethodGet && method != http.MethodHead
	if sendsBody && strings.TrimSpace(cfg.RequestTemplate) == "" {
		return nil, errkind.Input(errors.New("an HTTP endpoint needs a request template"))
	}
	if len(cfg.Inputs) == 0 {
		return nil, errkind.Input(errors.New("an HTTP endpoint needs its inputs (from the dataset's columns)"))
	}
	tmpl, err := template.New("request").Option("missingkey=error").
		Funcs(template.FuncMap{"json": templateJSON}).Parse(cfg.RequestTemplate)
	if err != nil {
		return nil, errkind.Input(fmt.Errorf("request template: %v", err))
	}
	ep, err := newHTTPEndpoint(cfg.RemoteConfig)
	if err != nil {
		return nil, err
	}
	c := &httpJSON{httpEndpoint: ep, method: method, url: u, tmpl: tmpl, reqHdr: ep.jsonHeader, jsonBody: true, sendsBody: sendsBody}
	if cfg.ContentType != "" && !strings.HasPrefix(cfg.ContentType, "application/json") {
		c.reqHdr = ep.header.Clone()
		c.reqHdr.Set("Content-Type", cfg.ContentType)
		c.jsonBody = false
	}
	if cfg.ResponsePath != "" {
		c.path = strings.Split(cfg.ResponsePath, ".")
	}
	// Render a one-row batch of zeros now, so a template that cannot work
	// fails before the run starts.
	if _, err := c.prepare(zeroBatch(cfg.Inputs)); err != nil {
		ep.close()
		return nil, errkind.Input(err)
	}
	t := newRemoteTarget(cfg.RemoteConfig, "http", c)
	t.info.Inputs = cfg.Inputs
	return t, nil
}

func templateJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// zeroBatch is one row of zeros for the inputs, free dimensions 1.
func zeroBatch(specs []loader.InputSpec) BlockBatch {
	b := BlockBatch{Rows: 1}
	for _, s := range specs {
		shape := make([]int64, len(s.Shape))
		n := 1
		for i, d := range s.Shape {
			shape[i] = max(d, 1)
			n *= int(shape[i])
		}
		var data any
		switch s.DType {
		case loader.Float64:
			data = make([]float64, n)
		case loader.Float16:
			data = make([]uint16, n)
		case loader.Int64:
			data = make([]int64, n)
		case loader.Int32:
			data = make([]int32, n)
		case loader.Int8:
			data = make([]int8, n)
		case loader.Uint8:
			data = make([]uint8, n)
		case loader.Bool:
			data = make([]bool, n)
		case loader.String:
			data = make([]string, n)
		default:
			data = make([]float32, n)
		}
		b.Tensors = append(b.Tensors, loader.Tensor{Name: s.Name, DType: s.DType, Shape: shape, Data: data})
	}
	return b
}

type httpJSONRequest struct{ body []byte }

func (c *httpJSON) prepare(b BlockBatch) (any, error) {
	if !c.sendsBody {
		return &httpJSONRequest{}, nil
	}
	view, err := templateView(b)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := c.tmpl.Execute(&out, view); err != nil {
		return nil, fmt.Errorf("request template: %v", err)
	}
	if c.jsonBody && !json.Valid(out.Bytes()) {
		// Where, not what: the body holds the test set's values.
		var v any
		err := json.Unmarshal(out.Bytes(), &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("request template: the body is not valid JSON (%v, at byte %d of %d); quote values with the json function, e.g. {{json .Row.text}}", se, se.Offset, out.Len())
		}
		return nil, fmt.Errorf("request template: the body (%d bytes) is not valid JSON; quote values with the json function, e.g. {{json .Row.text}}", out.Len())
	}
	return &httpJSONRequest{body: out.Bytes()}, nil
}

func (c *httpJSON) call(ctx context.Context, req any, buf *callBuf) error {
	return c.do(ctx, c.method, c.url, req.(*httpJSONRequest).body, c.reqHdr, buf)
}

func (c *httpJSON) check(_ any, buf *callBuf) error {
	if c.path == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(buf.body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return protocolError("response is not JSON: %v", err)
	}
	for i, key := range c.path {
		switch node := v.(type) {
		case map[string]any:
			next, ok := node[key]
			if !ok {
				return protocolError("response has no %s", strings.Join(c.path[:i+1], "."))
			}
			v = next
		case []any:
			j, err := strconv.Atoi(key)
			if err != nil || j < 0 || j >= len(node) {
				return protocolError("response has no %s (an array of %d there)", strings.Join(c.path[:i+1], "."), len(node))
			}
			v = node[j]
		default:
			return protocolError("response has no %s", strings.Join(c.path[:i+1], "."))
		}
	}
	return nil
}

// templateView builds what a template sees from a batch's tensors.
func templateView(b BlockBatch) (*TemplateBatch, error) {
	v := &TemplateBatch{Inputs: map[string]any{}, NumRows: b.Rows, Rows: make([]map[string]any, b.Rows)}
	for r := range v.Rows {
		v.Rows[r] = map[string]any{}
	}
	for _, t := range b.Tensors {
		if err := checkTemplateTensor(t); err != nil {
			return nil, err
		}
		leaf := jsonLeaves(t.Data)
		v.Inputs[t.Name] = nest(leaf, t.Shape)
		if len(t.Shape) == 0 || t.Shape[0] != int64(b.Rows) {
			continue // no batch dimension: only in .Inputs
		}
		inner := int(t.Elements() / max(t.Shape[0], 1))
		var rows []any // the rows again for .Inputs, when some are null
		if slices.Contains(t.Null, true) {
			rows = make([]any, b.Rows)
		}
		for r := range b.Rows {
			var val any // nil: null
			switch part := sliceAny(leaf, r*inner, (r+1)*inner); {
			case rows != nil && t.Null[r]:
			case len(t.Shape) == 1:
				val = indexAny(part, 0)
			default:
				val = nest(part, t.Shape[1:])
			}
			v.Rows[r][t.Name] = val
			if rows != nil {
				rows[r] = val
			}
		}
		if rows != nil {
			v.Inputs[t.Name] = rows
		}
	}
	if b.Rows == 1 {
		v.Row = v.Rows[0]
	}
	return v, nil
}

// checkTemplateTensor is checkTensor for what a template may get: text,
// and a null mask of one entry per row.
func checkTemplateTensor(t loader.Tensor) error {
	if t.Null != nil && (len(t.Shape) == 0 || int64(len(t.Null)) != t.Shape[0]) {
		return fmt.Errorf("input %s: %d null marks for shape %v", t.Name, len(t.Null), t.Shape)
	}
	if d, ok := t.Data.([]string); ok {
		if int64(len(d)) != t.Elements() {
			return fmt.Errorf("input %s: shape %v holds %d elements, data has %d", t.Name, t.Shape, t.Elements(), len(d))
		}
		return nil
	}
	return checkTensor(t)
}

// jsonLeaves is the tensor's data as a slice that encoding/json writes as
// numbers: half floats as float32, bytes as ints (not base64).
func jsonLeaves(data any) any {
	switch d := data.(type) {
	case []uint16:
		out := make([]float32, len(d))
		for i, h := range d {
			out[i] = float16.FromBits(h).Float32()
		}
		return out
	case []uint8:
		out := make([]int, len(d))
		for i, x := range d {
			out[i] = int(x)
		}
		return out
	}
	return data
}

// nest splits a flat slice into arrays nested by shape; the innermost
// level stays a typed sub-slice, so nothing is copied.
func nest(flat any, shape []int64) any {
	if len(shape) == 0 {
		return indexAny(flat, 0)
	}
	if len(shape) == 1 {
		return flat
	}
	inner := 1
	for _, d := range shape[1:] {
		inner *= int(d)
	}
	out := make([]any, shape[0])
	for i := range out {
		out[i] = nest(sliceAny(flat, i*inner, (i+1)*inner), shape[1:])
	}
	return out
}

func sliceAny(s any, from, to int) any {
	switch d := s.(type) {
	case []float32:
		return d[from:to]
	case []float64:
		return d[from:to]
	case []int64:
		return d[from:to]
	case []int32:
		return d[from:to]
	case []int8:
		return d[from:to]
	case []int:
		return d[from:to]
	case []bool:
		return d[from:to]
	case []string:
		return d[from:to]
	}
	panic(fmt.Sprintf("bench: slice of %T", s))
}

func indexAny(s any, i int) any {
	switch d := s.(type) {
	case []float32:
		return d[i]
	case []float64:
		return d[i]
	case []int64:
		return d[i]
	case []int32:
		return d[i]
	case []int8:
		return d[i]
	case []int:
		return d[i]
	case []bool:
		return d[i]
	case []string:
		return d[i]
	}
	panic(fmt.Sprintf("bench: index of %T", s))
}
