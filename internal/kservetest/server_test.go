package kservetest

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/infergate/infergate/internal/kservepb"
	"github.com/infergate/infergate/internal/ortlib"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// post sends body and returns the status and answer; a closed connection
// is an error.
func post(t *testing.T, url, body string) (int, string, error) {
	t.Helper()
	// A client of its own, so no kept-alive connection outlives the test.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const sumBody = `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}`

func TestV2REST(t *testing.T) {
	s := start(t, Options{})
	if code, _ := get(t, s.RESTURL+"/v2/health/ready"); code != 200 {
		t.Errorf("ready: %d", code)
	}
	if code, _ := get(t, s.ModelURL()+"/ready"); code != 200 {
		t.Errorf("model ready: %d", code)
	}
	if code, body := get(t, s.ModelURL()+"/versions/1"); code != 200 || !strings.Contains(body, `"shape":[-1,4]`) {
		t.Errorf("metadata: %d %s", code, body)
	}
	code, body, err := post(t, s.ModelURL()+"/infer", sumBody)
	if err != nil || code != 200 || !strings.Contains(body, `"data":[10,26]`) {
		t.Errorf("infer: %d %s %v", code, body, err)
	}
	// Nested data is allowed too.
	_, body, _ = post(t, s.ModelURL()+"/infer", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[[1,1,1,1]]}]}`)
	if !strings.Contains(body, `"data":[4]`) {
		t.Errorf("nested: %s", body)
	}
	for _, bad := range []string{
		`{"inputs":[{"name":"y","shape":[1,4],"datatype":"FP32","data":[1,1,1,1]}]}`,
		`{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,1,1]}]}`,
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[1,1,1,1]}]}`,
		`{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,1,1,1]}]}`,
		`not json`,
	} {
		if code, _, _ := post(t, s.ModelURL()+"/infer", bad); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
	if code, _ := get(t, s.RESTURL+"/v2/models/other"); code != 404 {
		t.Errorf("unknown model: %d", code)
	}
	if s.Requests() != 7 {
		t.Errorf("requests = %d, want 7 inferences", s.Requests())
	}
}

func TestFaultsREST(t *testing.T) {
	s := start(t, Options{Faults: Faults{ErrorFraction: 0.5}})
	var codes []int
	for range 6 {
		code, _, _ := post(t, s.ModelURL()+"/infer", sumBody)
		codes = append(codes, code)
	}
	// Exactly every other request fails, from the second.
	if !reflect.DeepEqual(codes, []int{200, 500, 200, 500, 200, 500}) {
		t.Errorf("codes = %v", codes)
	}

	s.SetFaults(Faults{DropFraction: 1})
	if _, _, err := post(t, s.ModelURL()+"/infer", sumBody); err == nil {
		t.Error("dropped request got an answer")
	}

	s.SetFaults(Faults{BadFraction: 1})
	if code, body, _ := post(t, s.ModelURL()+"/infer", sumBody); code != 200 || !strings.Contains(body, "truncated") {
		t.Errorf("bad answer: %d %s", code, body)
	}

	s.SetFaults(Faults{Latency: 30 * time.Millisecond})
	t0 := time.Now()
	post(t, s.ModelURL()+"/infer", sumBody)
	if d := time.Since(t0); d < 30*time.Millisecond {
		t.Errorf("latency fault: answered in %v", d)
	}

	s.SetFaults(Faults{})
	s.Stall(100 * time.Millisecond)
	t0 = time.Now()
	post(t, s.ModelURL()+"/infer", sumBody)
	if d := time.Since(t0); d < 90*time.Millisecond {
		t.Errorf("stall: answered in %v", d)
	}

	s.SetFaults(Faults{StallFraction: 1})
	c := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := c.Post(s.ModelURL()+"/infer", "application/json", strings.NewReader(sumBody))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("stalled request: err = %v, want a timeout", err)
	}
}

func TestPreciseLatency(t *testing.T) {
	s := start(t, Options{Faults: Faults{Latency: time.Millisecond}, PreciseLatency: true})
	ctx := context.Background()
	var took []time.Duration
	for range 21 {
		t0 := time.Now()
		if _, err := s.admit(ctx); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	// Never short; the median close (other tests may share the CPU).
	if took[0] < time.Millisecond || took[10] > 1500*time.Microsecond {
		t.Errorf("1ms of latency took %v to %v, median %v", took[0], took[20], took[10])
	}
}

func TestReadiness(t *testing.T) {
	s := start(t, Options{ReadyAfter: 150 * time.Millisecond})
	if code, _ := get(t, s.RESTURL+"/v2/health/ready"); code != 503 {
		t.Errorf("ready before time: %d", code)
	}
	time.Sleep(150 * time.Millisecond)
	if code, _ := get(t, s.ModelURL()+"/ready"); code != 200 {
		t.Errorf("ready after time: %d", code)
	}
}

func dialGRPC(t *testing.T, s *Server) kservepb.GRPCInferenceServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return kservepb.NewGRPCInferenceServiceClient(conn)
}

func f32raw(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func TestGRPC(t *testing.T) {
	s := start(t, Options{})
	c := dialGRPC(t, s)
	ctx := context.Background()
	if r, err := c.ServerReady(ctx, &kservepb.ServerReadyRequest{}); err != nil || !r.GetReady() {
		t.Fatalf("ServerReady: %v %v", r, err)
	}
	md, err := c.ModelMetadata(ctx, &kservepb.ModelMetadataRequest{Name: "sum"})
	if err != nil || len(md.GetInputs()) != 1 || md.GetInputs()[0].GetDatatype() != "FP32" {
		t.Fatalf("ModelMetadata: %v %v", md, err)
	}
	req := &kservepb.ModelInferRequest{
		ModelName:        "sum",
		Inputs:           []*kservepb.ModelInferRequest_InferInputTensor{{Name: "x", Datatype: "FP32", Shape: []int64{2, 4}}},
		RawInputContents: [][]byte{f32raw(1, 2, 3, 4, 5, 6, 7, 8)},
	}
	resp, err := c.ModelInfer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetRawOutputContents()[0]; !reflect.DeepEqual(got, f32raw(10, 26)) {
		t.Errorf("sums = %v", got)
	}
	// Typed contents work too.
	typed := &kservepb.ModelInferRequest{ModelName: "sum", Inputs: []*kservepb.ModelInferRequest_InferInputTensor{{
		Name: "x", Datatype: "FP32", Shape: []int64{1, 4},
		Contents: &kservepb.InferTensorContents{Fp32Contents: []float32{1, 1, 1, 2}},
	}}}
	if resp, err := c.ModelInfer(ctx, typed); err != nil || !reflect.DeepEqual(resp.GetRawOutputContents()[0], f32raw(5)) {
		t.Errorf("typed contents: %v %v", resp, err)
	}

	s.SetFaults(Faults{ErrorFraction: 1})
	if _, err := c.ModelInfer(ctx, req); status.Code(err) != codes.Internal {
		t.Errorf("error fault: %v", err)
	}
	s.SetFaults(Faults{DropFraction: 1})
	if _, err := c.ModelInfer(ctx, req); status.Code(err) != codes.Unavailable {
		t.Errorf("drop fault: %v", err)
	}
	s.SetFaults(Faults{StallFraction: 1})
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.ModelInfer(cctx, req); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("stall fault: %v", err)
	}
	s.SetFaults(Faults{})
	if _, err := c.ModelInfer(ctx, &kservepb.ModelInferRequest{ModelName: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown model: %v", err)
	}
}

func TestTFServing(t *testing.T) {
	s := start(t, Options{TFServing: true})
	if code, body := get(t, s.ModelURL()); code != 200 || !strings.Contains(body, "AVAILABLE") {
		t.Errorf("status: %d %s", code, body)
	}
	if code, body := get(t, s.ModelURL()+"/metadata"); code != 200 || !strings.Contains(body, `"dtype":"DT_FLOAT"`) || !strings.Contains(body, `"size":"-1"`) {
		t.Errorf("metadata: %d %s", code, body)
	}
	code, body, _ := post(t, s.ModelURL()+":predict", `{"instances":[{"x":[1,2,3,4]},{"x":[5,6,7,8]}]}`)
	if code != 200 || body != `{"predictions":[10,26]}` {
		t.Errorf("row predict: %d %s", code, body)
	}
	code, body, _ = post(t, s.ModelURL()+"/versions/1:predict", `{"instances":[[1,2,3,4]]}`)
	if code != 200 || body != `{"predictions":[10]}` {
		t.Errorf("bare row predict: %d %s", code, body)
	}
	code, body, _ = post(t, s.ModelURL()+":predict", `{"inputs":{"x":[[1,2,3,4],[5,6,7,8]]}}`)
	if code != 200 || body != `{"outputs":[10,26]}` {
		t.Errorf("columnar predict: %d %s", code, body)
	}
}

func TestFlattenJSON(t *testing.T) {
	for in, want := range map[string]struct {
		vals  []float64
		shape []int64
	}{
		`[1,2,3]`:               {[]float64{1, 2, 3}, []int64{3}},
		` [[1, 2],[3,4]] `:      {[]float64{1, 2, 3, 4}, []int64{2, 2}},
		`[true,false]`:          {[]float64{1, 0}, []int64{2}},
		`2.5`:                   {[]float64{2.5}, nil},
		`[]`:                    {[]float64{}, []int64{0}},
		`[[1e3],[-2E-1]]`:       {[]float64{1000, -0.2}, []int64{2, 1}},
		`[[[1],[2]],[[3],[4]]]`: {[]float64{1, 2, 3, 4}, []int64{2, 2, 1}},
	} {
		vals, shape, err := flattenJSON([]byte(in))
		if err != nil || !reflect.DeepEqual(vals, want.vals) || !reflect.DeepEqual(shape, want.shape) {
			t.Errorf("flattenJSON(%s) = %v %v %v", in, vals, shape, err)
		}
	}
	for _, bad := range []string{`[[1,2],[3]]`, `[1,[2]]`, `[1,`, `[1 2]`, `["a"]`, `[1]x`} {
		if _, _, err := flattenJSON([]byte(bad)); err == nil {
			t.Errorf("flattenJSON(%s) accepted", bad)
		}
	}
}

func TestRawRoundTrip(t *testing.T) {
	vals := []float64{1, -2, 0.5, 3}
	for _, dt := range []string{"FP32", "FP64", "FP16", "INT64", "INT32", "INT8", "UINT8", "BOOL"} {
		in := vals
		switch dt {
		case "INT64", "INT32", "INT8":
			in = []float64{1, -2, 0, 3}
		case "UINT8":
			in = []float64{1, 2, 0, 3}
		case "BOOL":
			in = []float64{1, 0, 0, 1}
		}
		got, err := decodeRaw(dt, encodeRaw(dt, in))
		if err != nil || !reflect.DeepEqual(got, in) {
			t.Errorf("%s: %v -> %v %v", dt, in, got, err)
		}
	}
}

func TestONNXModel(t *testing.T) {
	lib := ortlib.Require(t)
	m, err := NewONNXModel(lib, filepath.Join("..", "..", "testdata", "mlp_base.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := start(t, Options{Model: m, ModelName: "mlp"})
	data := strings.Repeat("0.5,", 63) + "0.5"
	code, body, err := post(t, s.ModelURL()+"/infer",
		`{"inputs":[{"name":"features","shape":[1,64],"datatype":"FP32","data":[`+data+`]}]}`)
	if err != nil || code != 200 || !strings.Contains(body, `"outputs":[{`) {
		t.Errorf("infer: %d %s %v", code, body, err)
	}
}
