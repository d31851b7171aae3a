package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/infergate/infergate/internal/errkind"
)

// kserveREST speaks the Open Inference Protocol v2 over HTTP/JSON (KServe,
// Triton, MLServer, OpenVINO Model Server, TorchServe's v2 handler).
type kserveREST struct {
	*httpEndpoint
	model    *url.URL // …/v2/models/NAME[/versions/V]
	inferURL *url.URL
}

// v2Tensor is a tensor's metadata or value in the v2 REST protocol.
type v2Tensor struct {
	Name     string          `json:"name"`
	Datatype string          `json:"datatype"`
	Shape    []int64         `json:"shape"`
	Data     json.RawMessage `json:"data,omitempty"`
}

type v2ModelMetadata struct {
	Name     string     `json:"name"`
	Versions []string   `json:"versions"`
	Inputs   []v2Tensor `json:"inputs"`
	Outputs  []v2Tensor `json:"outputs"`
}

// servedVersion is the model version an endpoint answers with: the one its
// URL names, else the only one its metadata lists; "" when it lists
// several, since which of them answers is the server's policy and the
// metadata does not say. A listed version goes into every report, so only
// a plain one is taken (see plainVersion): the server's words stay out.
func servedVersion(fromURL string, listed []string) string {
	if fromURL != "" {
		return fromURL
	}
	if len(listed) == 1 && plainVersion(listed[0]) {
		return listed[0]
	}
	return ""
}

// plainVersion reports whether v looks like a version: 1 to 64 letters,
// digits, dots, dashes or underscores.
func plainVersion(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

type v2InferResponse struct {
	Outputs []v2Tensor `json:"outputs"`
	Error   string     `json:"error"`
}

const kserveRESTExample = "http(s)://HOST:PORT/v2/models/NAME[/versions/VERSION]"

// NewKServeREST binds to a model served over the KServe v2 REST protocol at
// cfg.URL (http(s)://HOST:PORT[/PREFIX]/v2/models/NAME[/versions/V]). It
// waits for GET /v2/health/ready and the model's …/ready to answer 200
// (within cfg.ReadyTimeout), then reads the model's inputs from its
// metadata (GET of the model URL). Calls are POST …/infer with the tensors
// as JSON; FP16 travels as numbers.
func NewKServeREST(ctx context.Context, cfg RemoteConfig) (Target, error) {
	root, name, version, err := splitModelURL(cfg.URL, "/v2/models/", kserveRESTExample)
	if err != nil {
		return nil, err
	}
	ep, err := newHTTPEndpoint(cfg)
	if err != nil {
		return nil, err
	}
	path := "/v2/models/" + name
	if version != "" {
		path += "/versions/" + version
	}
	c := &kserveREST{httpEndpoint: ep, model: at(root, path), inferURL: at(root, path+"/infer")}
	serverReady := at(root, "/v2/health/ready")
	timeout := cfg.timeout()
	modelReady := at(root, path+"/ready")
	where := RedactURL(c.model.String())
	err = waitReady(ctx, where, cfg.readyTimeout(), func(ctx context.Context) error {
		if _, err := ep.get(ctx, serverReady, timeout); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		if _, err := ep.get(ctx, modelReady, timeout); err != nil {
			return fmt.Errorf("model: %w", err)
		}
		return nil
	})
	if err != nil {
		ep.close()
		return nil, err
	}
	body, err := ep.get(ctx, c.model, timeout)
	if err != nil {
		ep.close()
		return nil, errkind.Run(fmt.Errorf("model metadata: %w", err))
	}
	var md v2ModelMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		ep.close()
		return nil, errkind.Run(fmt.Errorf("model metadata from %s: %v", where, err))
	}
	t := newRemoteTarget(cfg, "kserve-rest", c)
	t.info.ModelVersion = servedVersion(version, md.Versions)
	for _, in := range md.Inputs {
		spec, err := v2InputSpec(in.Name, in.Datatype, in.Shape)
		if err != nil {
			ep.close()
			return nil, errkind.Input(fmt.Errorf("model at %s: %v", t.info.Model, err))
		}
		t.info.Inputs = append(t.info.Inputs, spec)
	}
	if len(t.info.Inputs) == 0 {
		ep.close()
		return nil, errkind.Run(fmt.Errorf("model metadata from %s lists no inputs", t.info.Model))
	}
	for _, out := range md.Outputs {
		t.info.Outputs = append(t.info.Outputs, out.Name)
	}
	return t, nil
}

// kserveRESTRequest is a prepared infer body.
type kserveRESTRequest struct {
	body []byte
}

func (c *kserveREST) prepare(b BlockBatch) (any, error) {
	buf := []byte(`{"inputs":[`)
	for i, t := range b.Tensors {
		if err := checkTensor(t); err != nil {
			return nil, err
		}
		dt, ok := v2Datatypes[t.DType]
		if !ok {
			return nil, fmt.Errorf("input %s: element type %s has no v2 datatype", t.Name, t.DType)
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"name":`...)
		buf = strconv.AppendQuote(buf, t.Name)
		buf = append(buf, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, d, 10)
		}
		buf = append(buf, `],"datatype":"`...)
		buf = append(buf, dt...)
		buf = append(buf, `","data":`...)
		var err error
		if buf, err = appendFlatJSON(buf, t); err != nil {
			return nil, err
		}
		buf = append(buf, '}')
	}
	buf = append(buf, "]}"...)
	return &kserveRESTRequest{body: buf}, nil
}

func (c *kserveREST) call(ctx context.Context, req any, buf *callBuf) error {
	return c.do(ctx, http.MethodPost, c.inferURL, req.(*kserveRESTRequest).body, c.jsonHeader, buf)
}

// check reads the answer: it must list outputs, each holding as many
// values as its shape says.
func (c *kserveREST) check(_ any, buf *callBuf) error {
	resp, err := scanV2Response(buf.body)
	if err != nil {
		return protocolError("infer response is not v2 JSON: %v", err)
	}
	return checkV2Outputs(resp)
}

// scanV2Response reads what check needs from an infer answer (names,
// shapes, data, error) with jsonReader; the data stays raw.
func scanV2Response(b []byte) (v2InferResponse, error) {
	var resp v2InferResponse
	r := &jsonReader{b: b}
	err := r.object(func(key string) error {
		switch key {
		case "outputs":
			return r.array(func() error {
				var o v2Tensor
				err := r.object(func(key string) error {
					switch key {
					case "name":
						s, err := r.str() // escapes kept: it is only shown
						o.Name = string(s)
						return err
					case "datatype":
						s, err := r.str()
						o.Datatype = string(s)
						return err
					case "shape":
						o.Shape = o.Shape[:0]
						return r.array(func() error {
							tok, err := r.raw()
							if err != nil {
								return err
							}
							d, err := strconv.ParseInt(string(tok), 10, 64)
							if err != nil {
								return fmt.Errorf("shape: %q is not a dimension", tok)
							}
							o.Shape = append(o.Shape, d)
							return nil
						})
					case "data":
						var err error
						o.Data, err = r.raw()
						return err
					}
					return r.skip()
				})
				resp.Outputs = append(resp.Outputs, o)
				return err
			})
		case "error":
			s, err := r.raw()
			if err == nil {
				err = json.Unmarshal(s, &resp.Error)
			}
			return err
		}
		return r.skip()
	})
	if err == nil {
		err = r.end()
	}
	return resp, err
}

func checkV2Outputs(resp v2InferResponse) error {
	if resp.Error != "" {
		return protocolError("infer response carries an error: %s", resp.Error)
	}
	if len(resp.Outputs) == 0 {
		return protocolError("infer response has no outputs")
	}
	for _, o := range resp.Outputs {
		n, err := countJSONValues(o.Data)
		if err != nil {
			return protocolError("output %s: %v", o.Name, err)
		}
		want, err := shapeElements(o.Shape)
		if err != nil {
			return protocolError("output %s: %v", o.Name, err)
		}
		if n != want {
			return protocolError("output %s: shape %v holds %d values, data has %d", o.Name, o.Shape, want, n)
		}
	}
	return nil
}
