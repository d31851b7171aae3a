package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
)

// TFFormat is how a TF Serving predict request lays out its tensors.
type TFFormat string

const (
	// TFRow is the "instances" format: one object per row, each input's
	// value for that row under its name. Every input's first dimension is
	// the batch.
	TFRow TFFormat = "row"
	// TFColumnar is the "inputs" format: each input's whole tensor, nested
	// by its shape, under its name.
	TFColumnar TFFormat = "columnar"
)

// TFServingConfig configures a TensorFlow Serving REST target.
type TFServingConfig struct {
	RemoteConfig
	// Format is TFRow (default) or TFColumnar.
	Format TFFormat
	// Signature is the signature_def to call; "" means serving_default.
	Signature string
}

type tfServing struct {
	*httpEndpoint
	format     TFFormat
	signature  string
	model      *url.URL // …/v1/models/NAME[/versions/V]
	predictURL *url.URL
	// outputNames are the signature's outputs, sorted.
	outputNames []string
}

const tfServingExample = "http(s)://HOST:PORT/v1/models/NAME[/versions/VERSION][:predict]"

// NewTFServing binds to a model served by TensorFlow Serving's REST API at
// cfg.URL (http(s)://HOST:PORT/v1/models/NAME[/versions/V], a trailing
// ":predict" allowed). It waits until GET of the model URL lists a version
// in state AVAILABLE (within cfg.ReadyTimeout), then reads the inputs of
// the signature from GET …/metadata. Calls are POST …:predict.
func NewTFServing(ctx context.Context, cfg TFServingConfig) (Target, error) {
	switch cfg.Format {
	case "":
		cfg.Format = TFRow
	case TFRow, TFColumnar:
	default:
		return nil, errkind.Input(fmt.Errorf("TF Serving request format %q: want %s or %s", cfg.Format, TFRow, TFColumnar))
	}
	if cfg.Signature == "" {
		cfg.Signature = "serving_default"
	}
	root, name, version, err := splitModelURL(cfg.URL, "/v1/models/", tfServingExample)
	if err != nil {
		return nil, err
	}
	ep, err := newHTTPEndpoint(cfg.RemoteConfig)
	if err != nil {
		return nil, err
	}
	path := "/v1/models/" + name
	if version != "" {
		path += "/versions/" + version
	}
	c := &tfServing{
		httpEndpoint: ep, format: cfg.Format, signature: cfg.Signature,
		model: at(root, path), predictURL: at(root, path+":predict"),
	}
	timeout := cfg.timeout()
	where := RedactURL(c.model.String())
	err = waitReady(ctx, where, cfg.readyTimeout(), func(ctx context.Context) error {
		body, err := ep.get(ctx, c.model, timeout)
		if err != nil {
			return err
		}
		var st struct {
			Versions []struct {
				Version string `json:"version"`
				State   string `json:"state"`
			} `json:"model_version_status"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			return fmt.Errorf("model status is not TF Serving JSON: %v", err)
		}
		var states []string
		for _, v := range st.Versions {
			if v.State == "AVAILABLE" {
				return nil
			}
			states = append(states, v.Version+" "+v.State)
		}
		return fmt.Errorf("no version AVAILABLE (%v)", states)
	})
	if err != nil {
		ep.close()
		return nil, err
	}
	body, err := ep.get(ctx, at(root, path+"/metadata"), timeout)
	if err != nil {
		ep.close()
		return nil, errkind.Run(fmt.Errorf("model metadata: %w", err))
	}
	ins, outs, err := parseTFMetadata(body, cfg.Signature)
	if err != nil {
		ep.close()
		return nil, errkind.Input(fmt.Errorf("model metadata from %s: %v", where, err))
	}
	t := newRemoteTarget(cfg.RemoteConfig, "tfserving", c)
	t.info.Inputs, t.info.Outputs = ins, outs
	t.info.ModelVersion = servedVersion(version, tfSpecVersion(body))
	c.outputNames = outs
	return t, nil
}

// tfDTypes maps TensorFlow's DataType names to the loader's element types.
var tfDTypes = map[string]loader.DType{
	"DT_FLOAT":  loader.Float32,
	"DT_DOUBLE": loader.Float64,
	"DT_HALF":   loader.Float16,
	"DT_INT64":  loader.Int64,
	"DT_INT32":  loader.Int32,
	"DT_INT8":   loader.Int8,
	"DT_UINT8":  loader.Uint8,
	"DT_BOOL":   loader.Bool,
}

// tfTensorInfo is a signature's tensor in TF Serving's metadata JSON, the
// proto3 JSON mapping of TensorInfo (int64 sizes come as strings).
type tfTensorInfo struct {
	DType       string `json:"dtype"`
	TensorShape struct {
		Dim []struct {
			Size json.Number `json:"size"`
		} `json:"dim"`
		UnknownRank bool `json:"unknown_rank"`
	} `json:"tensor_shape"`
}

// tfSpecVersion is the version TF Serving's metadata answer says it
// resolved the request to (model_spec.version, an Int64Value that proto3
// JSON writes as a string); nil when the answer has none.
func tfSpecVersion(body []byte) []string {
	var md struct {
		ModelSpec struct {
			Version json.Number `json:"version"`
		} `json:"model_spec"`
	}
	if json.Unmarshal(body, &md) != nil || md.ModelSpec.Version == "" {
		return nil
	}
	return []string{md.ModelSpec.Version.String()}
}

func parseTFMetadata(body []byte, signature string) ([]loader.InputSpec, []string, error) {
	var md struct {
		Metadata struct {
			SignatureDef struct {
				SignatureDef map[string]struct {
					Inputs  map[string]tfTensorInfo `json:"inputs"`
					Outputs map[string]tfTensorInfo `json:"outputs"`
				} `json:"signature_def"`
			} `json:"signature_def"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, nil, fmt.Errorf("not TF Serving metadata JSON: %v", err)
	}
	defs := md.Metadata.SignatureDef.SignatureDef
	sig, ok := defs[signature]
	if !ok {
		var names []string
		for n := range defs {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, nil, fmt.Errorf("no signature %q (the model has %v)", signature, names)
	}
	var names []string
	for n := range sig.Inputs {
		names = append(names, n)
	}
	slices.Sort(names)
	var ins []loader.InputSpec
	for _, n := range names {
		ti := sig.Inputs[n]
		dt, ok := tfDTypes[ti.DType]
		if !ok {
			return nil, nil, fmt.Errorf("input %s has dtype %s, which infergate cannot feed", n, ti.DType)
		}
		if ti.TensorShape.UnknownRank {
			return nil, nil, fmt.Errorf("input %s has unknown rank; infergate needs at least the rank", n)
		}
		spec := loader.InputSpec{Name: n, DType: dt, Shape: []int64{}}
		for _, d := range ti.TensorShape.Dim {
			size, err := strconv.ParseInt(string(d.Size), 10, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("input %s: dimension %q", n, d.Size)
			}
			spec.Shape = append(spec.Shape, max(size, -1))
		}
		ins = append(ins, spec)
	}
	if len(ins) == 0 {
		return nil, nil, fmt.Errorf("signature %q has no inputs", signature)
	}
	var outs []string
	for n := range sig.Outputs {
		outs = append(outs, n)
	}
	slices.Sort(outs)
	return ins, outs, nil
}

type tfRequest struct {
	body []byte
	rows int
}

func (c *tfServing) prepare(b BlockBatch) (any, error) {
	buf := []byte(`{"signature_name":`)
	buf = strconv.AppendQuote(buf, c.signature)
	var err error
	if c.format == TFColumnar {
		buf = append(buf, `,"inputs":{`...)
		for i, t := range b.Tensors {
			if err := checkTensor(t); err != nil {
				return nil, err
			}
			w, _, _ := jsonElems(t)
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendQuote(buf, t.Name)
			buf = append(buf, ':')
			if buf, err = appendNestedJSON(buf, w, t.Shape, 0); err != nil {
				return nil, err
			}
		}
		buf = append(buf, "}}"...)
		return &tfRequest{body: buf, rows: b.Rows}, nil
	}

	// Row format: every input must have the batch as its first dimension.
	writers := make([]elemWriter, len(b.Tensors))
	for i, t := range b.Tensors {
		if err := checkTensor(t); err != nil {
			return nil, err
		}
		if len(t.Shape) == 0 || t.Shape[0] != int64(b.Rows) {
			return nil, fmt.Errorf("input %s of shape %v has no batch dimension of %d rows; use the columnar TF Serving format", t.Name, t.Shape, b.Rows)
		}
		writers[i], _, _ = jsonElems(t)
	}
	buf = append(buf, `,"instances":[`...)
	for r := range b.Rows {
		if r > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		for i, t := range b.Tensors {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendQuote(buf, t.Name)
			buf = append(buf, ':')
			inner := t.Elements() / t.Shape[0]
			if buf, err = appendNestedJSON(buf, writers[i], t.Shape[1:], r*int(inner)); err != nil {
				return nil, err
			}
		}
		buf = append(buf, '}')
	}
	buf = append(buf, "]}"...)
	return &tfRequest{body: buf, rows: b.Rows}, nil
}

func (c *tfServing) call(ctx context.Context, req any, buf *callBuf) error {
	return c.do(ctx, http.MethodPost, c.predictURL, req.(*tfRequest).body, c.jsonHeader, buf)
}

// check: the row format answers "predictions" with a row per instance;
// the columnar one answers "outputs".
func (c *tfServing) check(req any, buf *callBuf) error {
	var resp struct {
		Predictions []json.RawMessage `json:"predictions"`
		Outputs     json.RawMessage   `json:"outputs"`
		Error       string            `json:"error"`
	}
	if err := json.Unmarshal(buf.body, &resp); err != nil {
		return protocolError("predict response is not TF Serving JSON: %v", err)
	}
	if resp.Error != "" {
		return protocolError("predict response carries an error: %s", resp.Error)
	}
	if c.format == TFColumnar {
		if len(resp.Outputs) == 0 || string(resp.Outputs) == "null" {
			return protocolError("predict response has no outputs")
		}
		return nil
	}
	if rows := req.(*tfRequest).rows; len(resp.Predictions) != rows {
		return protocolError("predict response has %d predictions for %d instances", len(resp.Predictions), rows)
	}
	return nil
}
