package bench

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/bits"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/infergate/infergate/internal/kservepb"
)

// Everything an endpoint answers is outside input: the decoders below must
// never panic, never do work out of proportion to the bytes they got (a
// declared shape of [1e12] with a few bytes of data is an error, not an
// allocation), and every output they return holds as many elements as its
// shape says.

// fzWantOutputs fails unless every output's data fills its shape exactly.
func fzWantOutputs(t *testing.T, outs []Output) {
	t.Helper()
	for _, o := range outs {
		n := uint64(1)
		for _, d := range o.Shape {
			if d < 0 {
				t.Fatalf("output %s: negative dimension in shape %v", o.Name, o.Shape)
			}
			hi, lo := bits.Mul64(n, uint64(d))
			if hi != 0 || lo > math.MaxInt64 {
				t.Fatalf("output %s: shape %v overflows", o.Name, o.Shape)
			}
			n = lo
		}
		if n != uint64(len(o.Data)) {
			t.Fatalf("output %s: shape %v holds %d elements, data has %d", o.Name, o.Shape, n, len(o.Data))
		}
	}
}

// fzOneLine fails when an error message spans lines.
func fzOneLine(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && strings.ContainsAny(err.Error(), "\n\r") {
		t.Fatalf("%s: error spans lines: %q", what, err.Error())
	}
}

// fzProtocol fails unless err is nil or a protocol error, the kind every
// undecodable answer must count as.
func fzProtocol(t *testing.T, what string, err error) {
	t.Helper()
	var ce *callError
	if err != nil && (!errors.As(err, &ce) || ce.kind != ErrKindProtocol) {
		t.Fatalf("%s: %v is not a protocol error", what, err)
	}
}

// FuzzKServeRESTResponse feeds a KServe v2 REST infer answer through what a
// run does with it: check (the hot-path scan), then, for output parity,
// outputs.
func FuzzKServeRESTResponse(f *testing.F) {
	for _, s := range []string{
		// As internal/kservetest writes them.
		`{"model_name":"sum","model_version":"1","outputs":[{"name":"sum","datatype":"FP32","shape":[2],"data":[10,26]}]}`,
		`{"model_name":"echo","model_version":"1","outputs":[{"name":"x","datatype":"FP32","shape":[2,4],"data":[1,2,3,4,5,6,7,8]},{"name":"mask","datatype":"BOOL","shape":[2,1],"data":[true,false]}]}`,
		`{"model_name":"m","model_version":"1","outputs":[{"name":"i","datatype":"INT64","shape":[1,2],"data":[[-9007199254740993,3]]}]}`,
		` { "outputs" : [ { "shape" : [ 2 , 1 ] , "data" : [[1.5e3],[-2]], "parameters": {"a": [1, {"b": null}]}, "name": "a\"b" } , {"name":"o2","shape":[],"data":[true]} ] , "id" : "x" } `,
		`{"outputs":[],"error":"model failed"}`,
		`{"error":"boom"}`,
		// Truncated and odd.
		`{"outputs": [truncated`,
		`{"outputs":[{"name":"o","shape":[3],"data":[1,2]}]}`,
		`{"outputs":[{"name":"o","shape":[1000000000000],"data":[1]}]}`,
		`{"outputs":[{"name":"o","shape":[4294967296,4294967296],"data":[]}]}`,
		`{"outputs":[{"name":"o","shape":[-1,-1],"data":[1]}]}`,
		`{"outputs":[{"name":"o","shape":[2],"data":[[1],[2,3]]}]}`,
		`{"outputs":[{"name":"o","shape":[2],"data":["a","b"]}]}`,
		`{"outputs":[{"name":"o","shape":[1],"data":[null]}]}`,
		`{"outputs":[{"name":"o","shape":[1],"data":[1]}],"outputs":[{"name":"p","shape":[1],"data":[2]}]}`,
		`{"outputs":[{"name":"o","shape":[1],"data":{"a":1}}]}`,
		`{"outputs":[{"name":"o","shape":["1"],"data":[1]}]}`,
		`[[[[[[[[[[`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c := &kserveREST{}
		buf := &callBuf{body: body}
		err := c.check(nil, buf)
		fzProtocol(t, "check", err)
		outs, oerr := c.outputs(nil, buf)
		fzProtocol(t, "outputs", oerr)
		if oerr == nil {
			fzWantOutputs(t, outs)
		}
	})
}

// FuzzKServeRESTMetadata feeds a KServe v2 model metadata answer (GET of
// the model's URL) through what NewKServeREST makes of it: the JSON, then
// an input spec per input.
func FuzzKServeRESTMetadata(f *testing.F) {
	for _, s := range []string{
		`{"name":"sum","versions":["1"],"platform":"kservetest","inputs":[{"name":"x","datatype":"FP32","shape":[-1,4]}],"outputs":[{"name":"sum","datatype":"FP32","shape":[-1]}]}`,
		`{"name":"m","inputs":[{"name":"a","datatype":"INT64","shape":[]},{"name":"b","datatype":"BOOL","shape":[1,1]}],"outputs":[]}`,
		`{"name":"m","inputs":[{"name":"a","datatype":"BYTES","shape":[-1]}]}`,
		`{"name":"m","inputs":[{"name":"a","datatype":"FP32","shape":[1000000000000,-7]}]}`,
		`{"name":"m","inputs":[{"name":"a","datatype":"FP32","shape":[9223372036854775807,9223372036854775807]}]}`,
		`{"name":"m","inputs":null}`,
		`{"name":"m","inputs":[{"name":"a","datatype":"FP32","shape":[1.5]}]}`,
		`{"name":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var md v2ModelMetadata
		if json.Unmarshal(body, &md) != nil {
			return
		}
		for _, in := range md.Inputs {
			spec, err := v2InputSpec(in.Name, in.Datatype, in.Shape)
			fzOneLine(t, "v2InputSpec", err)
			if err != nil {
				continue
			}
			if len(spec.Shape) != len(in.Shape) {
				t.Fatalf("spec %v from shape %v", spec, in.Shape)
			}
			for _, d := range spec.Shape {
				if d < -1 {
					t.Fatalf("spec %v keeps a dimension below -1", spec)
				}
			}
		}
	})
}

// FuzzTFServingResponse feeds a TF Serving predict answer, row
// ("predictions") or columnar ("outputs"), through check and outputs, for
// a request of rows instances and a signature with the given outputs.
func FuzzTFServingResponse(f *testing.F) {
	for _, s := range []struct {
		body     string
		columnar bool
		rows     uint8
		names    string
	}{
		// As internal/kservetest writes them.
		{`{"predictions":[10,26]}`, false, 2, "sum"},
		{`{"predictions":[10]}`, false, 1, "sum"},
		{`{"outputs":[10,26]}`, true, 2, "sum"},
		{`{"predictions":[{"a":[1,2],"b":3},{"a":[4,5],"b":6}]}`, false, 2, "a,b"},
		{`{"outputs":{"a":[[1,2],[4,5]],"b":[3,6]}}`, true, 2, "a,b"},
		{`{"predictions":[[true,false]]}`, false, 1, ""},
		{`{"error":"Input to reshape is a tensor with 3 values"}`, false, 1, "sum"},
		// Truncated and odd.
		{`{"predictions":[10,`, false, 2, "sum"},
		{`{"outputs":[[1,2],[3]]}`, true, 2, "sum"},
		{`{"outputs":[[1,[2]],[3,4]]}`, true, 2, "sum"},
		{`{"outputs":[[[1]],[2]]}`, true, 2, "sum"},
		{`{"outputs":[[],[1]]}`, true, 2, "sum"},
		{`{"predictions":[[1,2],[3]]}`, false, 2, "sum"},
		{`{"predictions":[{"a":1},{"b":2}]}`, false, 2, "a,b"},
		{`{"predictions":[{"a":1},7]}`, false, 2, "a,b"},
		{`{"outputs":null}`, true, 1, ""},
		{`{"outputs":{"a":"x"}}`, true, 1, "a"},
		{`{"outputs":1e999}`, true, 1, ""},
		{`{"outputs":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}`, true, 1, ""},
	} {
		f.Add([]byte(s.body), s.columnar, s.rows, s.names)
	}
	f.Fuzz(func(t *testing.T, body []byte, columnar bool, rows uint8, names string) {
		c := &tfServing{format: TFRow}
		if columnar {
			c.format = TFColumnar
		}
		if names != "" {
			c.outputNames = strings.Split(names, ",")
		}
		req := &tfRequest{rows: int(rows)}
		buf := &callBuf{body: body}
		fzProtocol(t, "check", c.check(req, buf))
		outs, err := c.outputs(req, buf)
		fzProtocol(t, "outputs", err)
		if err == nil {
			fzWantOutputs(t, outs)
		}
	})
}

// FuzzTFServingMetadata feeds a TF Serving metadata answer
// (GET …/metadata) to parseTFMetadata for a signature.
func FuzzTFServingMetadata(f *testing.F) {
	for _, s := range []string{
		`{"model_spec":{"name":"sum","signature_name":"","version":"1"},"metadata":{"signature_def":{"signature_def":{"serving_default":{"inputs":{"x":{"dtype":"DT_FLOAT","tensor_shape":{"dim":[{"size":"-1","name":""},{"size":"4","name":""}],"unknown_rank":false},"name":"serving_default_x:0"}},"outputs":{"sum":{"dtype":"DT_FLOAT","tensor_shape":{"dim":[{"size":"-1"}],"unknown_rank":false},"name":"StatefulPartitionedCall:0"}},"method_name":"tensorflow/serving/predict"}}}}}`,
		`{"metadata":{"signature_def":{"signature_def":{"serving_default":{"inputs":{"x":{"dtype":"DT_INT64","tensor_shape":{"unknown_rank":true}}}}}}}}`,
		`{"metadata":{"signature_def":{"signature_def":{"serving_default":{"inputs":{"x":{"dtype":"DT_STRING","tensor_shape":{"dim":[]}}}}}}}}`,
		`{"metadata":{"signature_def":{"signature_def":{"serving_default":{"inputs":{"x":{"dtype":"DT_FLOAT","tensor_shape":{"dim":[{"size":"1000000000000"},{"size":"-9"},{"size":"9223372036854775808"}]}}}}}}}}`,
		`{"metadata":{"signature_def":{"signature_def":{"other":{}}}}}`,
		`{"metadata":{"signature_def":{"signature_def":{"serving_default":{"inputs":{"x":{"dtype":"DT_FLOAT","tensor_shape":{"dim":[{"size":4}]}}}}}}}}`,
		`{"metadata":`,
	} {
		f.Add([]byte(s), "serving_default")
	}
	f.Fuzz(func(t *testing.T, body []byte, signature string) {
		ins, _, err := parseTFMetadata(body, signature)
		if err != nil {
			return
		}
		if len(ins) == 0 {
			t.Fatal("no inputs and no error")
		}
		for _, in := range ins {
			if in.Shape == nil {
				t.Fatalf("input %s: nil shape", in.Name)
			}
			for _, d := range in.Shape {
				if d < -1 {
					t.Fatalf("input %v keeps a dimension below -1", in)
				}
			}
		}
	})
}

// FuzzHTTPJSONResponsePath feeds an HTTP JSON API answer and a
// --response-path to the HTTP target's check.
func FuzzHTTPJSONResponsePath(f *testing.F) {
	for _, s := range []struct{ body, path string }{
		{`{"name":"sum","inputs":[{"name":"x","datatype":"FP32","shape":[-1,4]}]}`, "inputs.0.name"},
		{`{"name":"sum","inputs":[{"name":"x"}]}`, "inputs.1.name"},
		{`{"predictions":[[0.1,0.9]]}`, "predictions"},
		{`{"predictions":[[0.1,0.9]]}`, "predictions.0.1"},
		{`{"a":{"b":null}}`, "a.b.c"},
		{`[1,2,3]`, "-1"},
		{`[1,2,3]`, "99999999999999999999"},
		{`{"":1}`, "."},
		{`{"a":1} trailing`, "a"},
		{`{"a":`, "a"},
		{``, "a"},
	} {
		f.Add([]byte(s.body), s.path)
	}
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		c := &httpJSON{}
		if path != "" {
			c.path = strings.Split(path, ".")
		}
		err := c.check(nil, &callBuf{body: body})
		fzProtocol(t, "check", err)
		if path == "" && err != nil {
			t.Fatalf("no response path, yet %v", err)
		}
	})
}

// fzGRPCResponse builds a v2 gRPC answer of nout outputs (1 or 2) of the
// datatype and shape, with nraw raw contents of raw each (0 to 2), or,
// when nraw is 0, raw read into every typed contents field.
func fzGRPCResponse(raw []byte, dt string, shape []int64, nout, nraw uint8) *kservepb.ModelInferResponse {
	resp := &kservepb.ModelInferResponse{ModelName: "m"}
	contents := &kservepb.InferTensorContents{}
	le := binary.LittleEndian
	for i, b := range raw {
		contents.BoolContents = append(contents.BoolContents, b != 0)
		if i%4 == 3 {
			w := le.Uint32(raw[i-3:])
			contents.IntContents = append(contents.IntContents, int32(w))
			contents.UintContents = append(contents.UintContents, w)
			contents.Fp32Contents = append(contents.Fp32Contents, math.Float32frombits(w))
		}
		if i%8 == 7 {
			w := le.Uint64(raw[i-7:])
			contents.Int64Contents = append(contents.Int64Contents, int64(w))
			contents.Uint64Contents = append(contents.Uint64Contents, w)
			contents.Fp64Contents = append(contents.Fp64Contents, math.Float64frombits(w))
		}
	}
	for i := range 1 + nout%2 {
		o := &kservepb.ModelInferResponse_InferOutputTensor{Name: "o" + string(rune('0'+i)), Datatype: dt, Shape: shape}
		if nraw%3 == 0 {
			o.Contents = contents
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	for range nraw % 3 {
		resp.RawOutputContents = append(resp.RawOutputContents, raw)
	}
	return resp
}

// fzGRPCOutputs runs a gRPC answer through check and outputs as Outputs
// does, and outputs alone too (it must not trust that check ran).
func fzGRPCOutputs(t *testing.T, resp *kservepb.ModelInferResponse) {
	c := &kserveGRPC{}
	buf := &callBuf{resp: resp}
	fzProtocol(t, "check", c.check(nil, buf))
	buf.resp = resp
	outs, err := c.outputs(nil, buf)
	fzProtocol(t, "outputs", err)
	if err == nil {
		fzWantOutputs(t, outs)
	}
}

// FuzzKServeGRPCOutputs feeds a v2 gRPC answer's output bytes, datatype
// and shape (up to 3 dimensions) to check and outputs.
func FuzzKServeGRPCOutputs(f *testing.F) {
	f32 := func(vs ...float32) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		return b
	}
	for _, s := range []struct {
		raw        []byte
		dt         string
		ndims      uint8
		d0, d1, d2 int64
		nout, nraw uint8
	}{
		// As internal/kservetest answers: raw contents, one per output.
		{f32(10, 26), "FP32", 1, 2, 0, 0, 1, 1},
		{f32(1, 2, 3, 4, 5, 6, 7, 8), "FP32", 2, 2, 4, 0, 2, 2},
		{[]byte{1, 0}, "BOOL", 2, 2, 1, 0, 1, 1},
		{[]byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, "FP64", 0, 0, 0, 0, 1, 1},
		{[]byte{0x3c, 0x00}, "FP16", 1, 1, 0, 0, 1, 1},
		// Typed contents.
		{f32(5), "FP32", 1, 1, 0, 0, 1, 0},
		{f32(5, 6), "INT64", 1, 1, 0, 0, 1, 0},
		{[]byte{1, 2, 3}, "UINT8", 1, 3, 0, 0, 1, 0},
		// Odd: huge or overflowing or negative shapes, few bytes, a
		// count of raw contents that does not match the outputs.
		{f32(1), "FP32", 1, 1_000_000_000_000, 0, 0, 1, 1},
		{nil, "FP32", 2, 1 << 62, 4, 0, 1, 1},
		{nil, "INT8", 2, 1 << 32, 1 << 32, 0, 1, 1},
		{f32(1), "FP32", 2, -1, -1, 0, 1, 1},
		{nil, "FP32", 1, 1 << 40, 0, 0, 1, 0},
		{f32(1, 2), "FP32", 1, 1, 0, 0, 2, 1},
		{[]byte{1, 2, 3}, "FP32", 1, 1, 0, 0, 1, 1},
		{[]byte{1, 2}, "BYTES", 1, 1, 0, 0, 1, 1},
		{[]byte{1, 2}, "", 0, 0, 0, 0, 1, 0},
	} {
		f.Add(s.raw, s.dt, s.ndims, s.d0, s.d1, s.d2, s.nout, s.nraw)
	}
	f.Fuzz(func(t *testing.T, raw []byte, dt string, ndims uint8, d0, d1, d2 int64, nout, nraw uint8) {
		shape := []int64{d0, d1, d2}[:ndims%4]
		fzGRPCOutputs(t, fzGRPCResponse(raw, dt, shape, nout, nraw))
	})
}

// FuzzKServeGRPCResponse feeds a ModelInferResponse as the wire bytes a
// server sends (what gRPC unmarshals before infergate sees it).
func FuzzKServeGRPCResponse(f *testing.F) {
	for _, resp := range []*kservepb.ModelInferResponse{
		fzGRPCResponse([]byte{0, 0, 0x20, 0x41, 0, 0, 0xd0, 0x41}, "FP32", []int64{2}, 0, 1),
		fzGRPCResponse([]byte{1, 2, 3, 4, 5, 6, 7, 8}, "INT64", []int64{1, 1}, 1, 0),
		fzGRPCResponse([]byte{1}, "FP32", []int64{1 << 40}, 0, 1),
		{ModelName: "m"},
	} {
		b, err := proto.Marshal(resp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		resp := &kservepb.ModelInferResponse{}
		if proto.Unmarshal(b, resp) != nil {
			return
		}
		fzGRPCOutputs(t, resp)
	})
}

// FuzzErrorBody feeds what a failing endpoint sends back (an HTTP status
// and body, a gRPC status) to the messages and kinds a failed call gets.
func FuzzErrorBody(f *testing.F) {
	f.Add(503, []byte(`{"error":"model sum is not ready"}`), uint32(codes.Unavailable), "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused\"")
	f.Add(400, []byte("line one\nline two\r\n\tthree"), uint32(codes.Internal), "grpc: error unmarshalling request")
	f.Add(418, []byte(strings.Repeat("é", 150)), uint32(99), "")
	f.Add(200, []byte{0xff, 0xfe, '\n', 0}, uint32(codes.DeadlineExceeded), "\n")
	f.Add(-1, []byte(nil), uint32(codes.OK), "EOF")
	f.Fuzz(func(t *testing.T, code int, body []byte, grpcCode uint32, msg string) {
		s := snippet(body)
		if strings.ContainsAny(s, "\n\r") || !utf8.ValidString(s) || len(s) > 200+len("…") {
			t.Fatalf("snippet(%q) = %q", body, s)
		}
		err := httpStatusError(code, s)
		fzOneLine(t, "httpStatusError", err)
		if (code >= 400 && code < 500) != (err.kind == ErrKindHTTP4xx) || (code >= 500 && code < 600) != (err.kind == ErrKindHTTP5xx) {
			t.Fatalf("HTTP %d is %s", code, err.kind)
		}
		if refusedCredentials(err) != (code == 401 || code == 403) {
			t.Fatalf("HTTP %d: refusedCredentials = %v", code, !(code == 401 || code == 403))
		}
		if kind := classifyTransport(err); kind != err.kind {
			t.Fatalf("classifyTransport(HTTP %d) = %s, want %s", code, kind, err.kind)
		}
		st := status.Error(codes.Code(grpcCode), msg)
		kind := classifyGRPC(st)
		if kind == "" || strings.ContainsAny(kind, " \n") {
			t.Fatalf("classifyGRPC(%v) = %q", st, kind)
		}
		_ = refusedCredentials(st)
		_ = classifyTransport(errors.New(msg))
	})
}

// FuzzEndpointURL feeds an --endpoint URL to what reads it before any
// connection: splitModelURL (KServe v2 and TF Serving REST) and RedactURL,
// which must drop userinfo and query.
func FuzzEndpointURL(f *testing.F) {
	for _, s := range []string{
		"http://localhost:8080/v2/models/sum",
		"https://user:pw@host:8443/prefix/v2/models/sum/versions/3/infer?key=secret#frag",
		"http://host/v1/models/half_plus_two:predict",
		"http://host/v1/models/m/versions/2:predict",
		"http://host/v2/models/",
		"http://host/v2/models//versions/1",
		"grpc://host:8001/sum/versions/1",
		"http://[::1]:80/v2/models/x",
		"http://host/%zz/v2/models/x",
		"http://a b/v2/models/x",
		"http://host/v2/models/a\nb",
		"//user:pw@host/v2/models/x",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, marker := range []string{"/v2/models/", "/v1/models/"} {
			root, name, _, err := splitModelURL(raw, marker, "EXAMPLE")
			fzOneLine(t, "splitModelURL", err)
			if err == nil && (root == nil || name == "") {
				t.Fatalf("splitModelURL(%q) = %v, %q without an error", raw, root, name)
			}
		}
		red := RedactURL(raw)
		if strings.ContainsAny(red, "\n\r") {
			t.Fatalf("RedactURL(%q) = %q", raw, red)
		}
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok && len(p) >= 4 && strings.Contains(red, p) && !strings.Contains(u.Host+u.Path, p) {
				t.Fatalf("RedactURL(%q) = %q keeps the password", raw, red)
			}
		}
	})
}

// FuzzParseDevice: --device. No panic, one-line errors, and a parsed
// device reads back from its String form.
func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"cpu", "", "cuda", "cuda:1", " CUDA:0 ", "tensorrt", "trt:3", "tensorrt:-1", "cpu:0", "cuda:", "cuda:1:2", "cuda:99999999999999999999", "gpu", "cuda:+1", "cuda:\n1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDevice(s)
		fzOneLine(t, "ParseDevice", err)
		if err != nil {
			return
		}
		if d.Ordinal < 0 || (!d.GPU() && (d.Kind != DeviceCPU || d.Ordinal != 0)) {
			t.Fatalf("ParseDevice(%q) = %+v", s, d)
		}
		back, err := ParseDevice(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDevice(%q) = %+v, whose String %q reads back as %+v, %v", s, d, d.String(), back, err)
		}
	})
}

// FuzzParseProviderOptions: --provider-option, given twice. No panic,
// one-line errors, and what it keeps is trimmed and non-empty.
func FuzzParseProviderOptions(f *testing.F) {
	for _, s := range [][2]string{
		{"cudnn_conv_algo_search=HEURISTIC", " gpu_mem_limit = 4294967296 "},
		{"a=1", "a=2"},
		{"device_id=1", ""},
		{"=x", "k="},
		{"k=v=w", "trt_fp16_enable=1"},
		{"a\nb=1", "a\nb=2"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, kvs := range [][]string{{a}, {a, b}} {
			m, err := ParseProviderOptions(kvs)
			fzOneLine(t, "ParseProviderOptions", err)
			if err != nil {
				continue
			}
			if len(m) != len(kvs) {
				t.Fatalf("ParseProviderOptions(%q) = %v", kvs, m)
			}
			for k, v := range m {
				if k == "" || v == "" || k != strings.TrimSpace(k) || v != strings.TrimSpace(v) || k == "device_id" {
					t.Fatalf("ParseProviderOptions(%q) keeps %q=%q", kvs, k, v)
				}
			}
		}
	})
}

// FuzzParseAmount: --warmup and --duration amounts. No panic, one-line
// errors, nothing negative, at most one of the three set, and a parsed
// amount reads back from its String form.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"200", "5s", "auto", "0", "-1", "1h2m3.5s", "-0s", "1.5", "9223372036854775807", "9223372036854775808", "2562048h", " 10 ", "10\n", "1e3", "+7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, flag := range []string{"warmup", "duration"} {
			a, err := ParseAmount(flag, s)
			fzOneLine(t, "ParseAmount", err)
			if err != nil {
				continue
			}
			set := 0
			for _, b := range []bool{a.Requests != 0, a.Duration != 0, a.Auto} {
				if b {
					set++
				}
			}
			if a.Requests < 0 || a.Duration < 0 || set > 1 || (a.Auto && flag != "warmup") {
				t.Fatalf("ParseAmount(%s, %q) = %+v", flag, s, a)
			}
			back, err := ParseAmount(flag, a.String())
			if err != nil || back != a {
				t.Fatalf("ParseAmount(%s, %q) = %+v, whose String %q reads back as %+v, %v", flag, s, a, a.String(), back, err)
			}
		}
	})
}

// TestJSONReaderDepth: the hot-path JSON scanner stops at encoding/json's
// nesting limit instead of recursing as deep as an answer is nested (a
// body of a few hundred megabytes of "[" would overflow the stack, which
// no recover catches).
func TestJSONReaderDepth(t *testing.T) {
	deep := `{"outputs":[{"name":"o","shape":[1],"data":[1],"parameters":` + strings.Repeat("[", maxJSONDepth+10) + strings.Repeat("]", maxJSONDepth+10) + `}]}`
	if _, err := scanV2Response([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("scanV2Response of a too deep answer: %v", err)
	}
	ok := `{"outputs":[{"name":"o","shape":[1],"data":[1],"parameters":` + strings.Repeat("[", maxJSONDepth-10) + strings.Repeat("]", maxJSONDepth-10) + `}]}`
	if _, err := scanV2Response([]byte(ok)); err != nil {
		t.Errorf("scanV2Response of an answer within the limit: %v", err)
	}
}
