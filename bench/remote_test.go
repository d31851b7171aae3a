package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/internal/kservepb"
	"github.com/infergate/infergate/internal/kservetest"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/loader"
)

func startServer(t *testing.T, opts kservetest.Options) *kservetest.Server {
	t.Helper()
	s, err := kservetest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// sumBatch is rows rows of x FP32[4]; row r holds 4r+1 … 4r+4, so its sum
// is 16r+10.
func sumBatch(rows int) BlockBatch {
	data := make([]float32, rows*4)
	for i := range data {
		data[i] = float32(i + 1)
	}
	return BlockBatch{Rows: rows, Tensors: []loader.Tensor{{
		Name: "x", DType: loader.Float32, Shape: []int64{int64(rows), 4}, Data: data,
	}}}
}

func wantSums(rows int) []float64 {
	out := make([]float64, rows)
	for r := range out {
		out[r] = float64(16*r + 10)
	}
	return out
}

// remoteKind names one way of reaching the test server.
type remoteKind struct {
	name  string
	opts  kservetest.Options
	start func(ctx context.Context, s *kservetest.Server, cfg RemoteConfig) (Target, error)
	// sums decodes one answer into the sum model's outputs.
	sums func(t *testing.T, buf *callBuf) []float64
}

func restSums(t *testing.T, buf *callBuf) []float64 {
	var resp struct {
		Outputs []struct {
			Data []float64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(buf.body, &resp); err != nil || len(resp.Outputs) != 1 {
		t.Fatalf("answer %s: %v", buf.body, err)
	}
	return resp.Outputs[0].Data
}

var remoteKinds = []remoteKind{
	{
		name: "kserve-rest",
		start: func(ctx context.Context, s *kservetest.Server, cfg RemoteConfig) (Target, error) {
			if cfg.URL == "" {
				cfg.URL = s.ModelURL()
			}
			return NewKServeREST(ctx, cfg)
		},
		sums: restSums,
	},
	{
		name: "kserve-grpc",
		start: func(ctx context.Context, s *kservetest.Server, cfg RemoteConfig) (Target, error) {
			if cfg.URL == "" {
				cfg.URL = s.GRPCURL()
			}
			return NewKServeGRPC(ctx, cfg)
		},
		sums: func(t *testing.T, buf *callBuf) []float64 {
			resp := buf.resp.(*kservepb.ModelInferResponse)
			raw := resp.GetRawOutputContents()[0]
			out := make([]float64, len(raw)/4)
			for i := range out {
				out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
			}
			return out
		},
	},
	{
		name: "tfserving-row",
		opts: kservetest.Options{TFServing: true},
		start: func(ctx context.Context, s *kservetest.Server, cfg RemoteConfig) (Target, error) {
			if cfg.URL == "" {
				cfg.URL = s.ModelURL()
			}
			return NewTFServing(ctx, TFServingConfig{RemoteConfig: cfg})
		},
		sums: func(t *testing.T, buf *callBuf) []float64 {
			var resp struct{ Predictions []float64 }
			if err := json.Unmarshal(buf.body, &resp); err != nil {
				t.Fatalf("answer %s: %v", buf.body, err)
			}
			return resp.Predictions
		},
	},
	{
		name: "tfserving-columnar",
		opts: kservetest.Options{TFServing: true},
		start: func(ctx context.Context, s *kservetest.Server, cfg RemoteConfig) (Target, error) {
			if cfg.URL == "" {
				cfg.URL = s.ModelURL() + ":predict"
			}
			return NewTFServing(ctx, TFServingConfig{RemoteConfig: cfg, Format: TFColumnar})
		},
		sums: func(t *testing.T, buf *callBuf) []float64 {
			var resp struct{ Outputs []float64 }
			if err := json.Unmarshal(buf.body, &resp); err != nil {
				t.Fatalf("answer %s: %v", buf.body, err)
			}
			return resp.Outputs
		},
	},
	{
		name: "http-json",
		start: func(ctx context.Context, s *kservetest.Server, cfg RemoteConfig) (Target, error) {
			if cfg.URL == "" {
				cfg.URL = s.ModelURL() + "/infer"
			}
			return NewHTTPJSON(ctx, HTTPJSONConfig{
				RemoteConfig:    cfg,
				RequestTemplate: `{"inputs":[{"name":"x","datatype":"FP32","shape":[{{.NumRows}},4],"data":{{json .Inputs.x}}}]}`,
				ResponsePath:    "outputs.0.data",
				Inputs:          []loader.InputSpec{{Name: "x", DType: loader.Float32, Shape: []int64{-1, 4}}},
			})
		},
		sums: restSums,
	},
}

// callOnce makes one call outside a block and returns its answer.
func callOnce(t *testing.T, tgt Target, b BlockBatch) *callBuf {
	t.Helper()
	rt := tgt.(*remoteTarget)
	req, err := rt.client.prepare(b)
	if err != nil {
		t.Fatal(err)
	}
	var buf callBuf
	if err := rt.client.call(context.Background(), req, &buf); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestRemoteTargetsBindAndInfer(t *testing.T) {
	for _, k := range remoteKinds {
		t.Run(k.name, func(t *testing.T) {
			s := startServer(t, k.opts)
			tgt, err := k.start(context.Background(), s, RemoteConfig{Name: "candidate"})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			info := tgt.Info()
			want := []loader.InputSpec{{Name: "x", DType: loader.Float32, Shape: []int64{-1, 4}}}
			if !reflect.DeepEqual(info.Inputs, want) {
				t.Errorf("inputs = %v, want %v", info.Inputs, want)
			}
			if info.Name != "candidate" || info.Model == "" || info.Kind == "" {
				t.Errorf("info = %+v", info)
			}
			if k.name != "http-json" && !reflect.DeepEqual(info.Outputs, []string{"sum"}) {
				t.Errorf("outputs = %v, want [sum]", info.Outputs)
			}

			if got := k.sums(t, callOnce(t, tgt, sumBatch(3))); !reflect.DeepEqual(got, wantSums(3)) {
				t.Errorf("sums = %v, want %v", got, wantSums(3))
			}

			before := s.Requests()
			for _, conc := range []int{1, 3} {
				res, err := tgt.Run(context.Background(), Block{
					Batches: []BlockBatch{sumBatch(1), sumBatch(4)}, Requests: 20, Concurrency: conc, Record: true,
				})
				if err != nil {
					t.Fatal(err)
				}
				if res.Requests != 20 || res.Rows != 50 || res.Errors != 0 || res.FirstError != "" {
					t.Errorf("concurrency %d: %+v; want 20 requests, 50 rows, no errors", conc, res)
				}
				if res.Histogram == nil || res.Histogram.Count() != 20 {
					t.Fatalf("concurrency %d: histogram %v, want 20 samples", conc, res.Histogram)
				}
				if p50 := res.Histogram.Quantile(0.5); p50 <= 0 || res.Elapsed < p50 {
					t.Errorf("concurrency %d: p50 %v, busy %v", conc, p50, res.Elapsed)
				}
			}
			if got := s.Requests() - before; got != 40 {
				t.Errorf("server saw %d requests, want 40", got)
			}
		})
	}
}

func TestRemoteDurationBlockAndAccumulate(t *testing.T) {
	s := startServer(t, kservetest.Options{})
	tgt, err := NewKServeREST(context.Background(), RemoteConfig{Name: "p", URL: s.ModelURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	ctx := context.Background()
	warm, err := tgt.Run(ctx, Block{Batches: []BlockBatch{sumBatch(1)}, Duration: 50 * time.Millisecond, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if warm.Requests < 2 || warm.Histogram != nil {
		t.Errorf("warmup: %d requests, histogram %v; want some, none", warm.Requests, warm.Histogram)
	}
	first, err := tgt.Run(ctx, Block{Batches: []BlockBatch{sumBatch(1), sumBatch(3)}, Requests: 30, Concurrency: 1, Record: true, Accumulate: true})
	if err != nil {
		t.Fatal(err)
	}
	if first.Histogram != nil || first.Requests != 30 || first.Rows != 60 {
		t.Fatalf("accumulating block: histogram %v, %d requests, %d rows; want none, 30, 60", first.Histogram, first.Requests, first.Rows)
	}
	// No batches: the last ones again, from offset 1 (3 rows first).
	second, err := tgt.Run(ctx, Block{Offset: 1, Requests: 11, Concurrency: 2, Record: true})
	if err != nil {
		t.Fatal(err)
	}
	if second.Histogram == nil || second.Histogram.Count() != 41 || second.Rows != 6*3+5*1 {
		t.Fatalf("closing block: histogram %v, %d rows; want 41 samples over both blocks, 23 rows", second.Histogram, second.Rows)
	}
}

func TestRemoteReadiness(t *testing.T) {
	for _, k := range remoteKinds {
		if k.name == "http-json" || k.name == "tfserving-columnar" {
			continue // no readiness protocol; columnar waits as row does
		}
		t.Run(k.name, func(t *testing.T) {
			opts := k.opts
			opts.ReadyAfter = 300 * time.Millisecond
			s := startServer(t, opts)
			start := time.Now()
			tgt, err := k.start(context.Background(), s, RemoteConfig{Name: "p", ReadyTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			tgt.Close()
			if waited := time.Since(start); waited < 250*time.Millisecond {
				t.Errorf("bound after %v, before the server was ready", waited)
			}

			opts.NeverReady = true
			s = startServer(t, opts)
			tgt, err = k.start(context.Background(), s, RemoteConfig{Name: "p", ReadyTimeout: 300 * time.Millisecond})
			if err == nil {
				tgt.Close()
				t.Fatal("bound to a server that is never ready")
			}
			if errkind.Of(err) != errkind.KindRun || !strings.Contains(err.Error(), "never became ready within 300ms") {
				t.Errorf("err = %v (%v), want a run error: never became ready", err, errkind.Of(err))
			}
		})
	}
}

// TestRemoteEndpointGoesAway binds, then loses the server: the block's
// calls are refused, and Run ends the run.
func TestRemoteEndpointGoesAway(t *testing.T) {
	for _, k := range remoteKinds[:2] {
		t.Run(k.name, func(t *testing.T) {
			s := startServer(t, k.opts)
			tgt, err := k.start(context.Background(), s, RemoteConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			s.Close()
			res, err := tgt.Run(context.Background(), Block{Batches: []BlockBatch{sumBatch(1)}, Duration: 50 * time.Millisecond, Concurrency: 2})
			if errkind.Of(err) != errkind.KindRun || !strings.Contains(err.Error(), "not answering") {
				t.Errorf("err = %v, want a run error: not answering", err)
			}
			if res.Errors == 0 || res.Errors != res.ErrorsByKind[ErrKindConnRefused]+res.ErrorsByKind[ErrKindConnReset] {
				t.Errorf("errors %d by kind %v, want refused (or reset) connections only", res.Errors, res.ErrorsByKind)
			}
		})
	}
}

func TestRemoteNothingListening(t *testing.T) {
	s := startServer(t, kservetest.Options{})
	url, grpcURL := s.ModelURL(), s.GRPCURL()
	s.Close()
	for _, tc := range []struct {
		name  string
		start func() (Target, error)
	}{
		{"rest", func() (Target, error) {
			return NewKServeREST(context.Background(), RemoteConfig{URL: url, ReadyTimeout: 200 * time.Millisecond})
		}},
		{"grpc", func() (Target, error) {
			return NewKServeGRPC(context.Background(), RemoteConfig{URL: grpcURL, ReadyTimeout: 200 * time.Millisecond})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt, err := tc.start()
			if err == nil {
				tgt.Close()
				t.Fatal("bound to nothing")
			}
			if errkind.Of(err) != errkind.KindRun || !strings.Contains(err.Error(), "refused") {
				t.Errorf("err = %v, want a run error about a refused connection", err)
			}
		})
	}
}

// runFaulted runs a block against a server with faults and returns it.
func runFaulted(t *testing.T, k remoteKind, f kservetest.Faults, blk Block, cfg RemoteConfig) (BlockResult, error) {
	t.Helper()
	s := startServer(t, k.opts)
	tgt, err := k.start(context.Background(), s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	s.SetFaults(f)
	if blk.Batches == nil {
		blk.Batches = []BlockBatch{sumBatch(2)}
	}
	return tgt.Run(context.Background(), blk)
}

func TestRemoteErrorKinds(t *testing.T) {
	type fault struct {
		name   string
		faults kservetest.Faults
		// want maps a kind per target family: rest (and the other HTTP
		// kinds) and grpc.
		rest, grpc string
		// down: every call goes unanswered, so Run ends the run.
		down bool
	}
	faults := []fault{
		{"server error", kservetest.Faults{ErrorFraction: 1}, ErrKindHTTP5xx, "grpc_internal", false},
		{"dropped connection", kservetest.Faults{DropFraction: 1}, ErrKindConnReset, ErrKindConnReset, true},
		{"stall", kservetest.Faults{StallFraction: 1}, ErrKindTimeout, ErrKindTimeout, true},
		{"bad answer", kservetest.Faults{BadFraction: 1}, ErrKindProtocol, ErrKindProtocol, false},
	}
	for _, k := range remoteKinds {
		for _, f := range faults {
			t.Run(k.name+"/"+f.name, func(t *testing.T) {
				want := f.rest
				if k.name == "kserve-grpc" {
					want = f.grpc
				}
				if k.name == "http-json" && f.name == "bad answer" {
					want = ErrKindProtocol // the response path is not there
				}
				// Two batches, labelled as the scheduler would: errors
				// are counted by class, with the batches' rows as examples.
				nan, normal := sumBatch(2), sumBatch(2)
				nan.FirstRow, nan.Class = 10, InputNaN
				normal.FirstRow, normal.Class = 12, InputNormal
				res, err := runFaulted(t, k, f.faults,
					Block{Batches: []BlockBatch{nan, normal}, Requests: 4, Concurrency: 2, Record: true},
					RemoteConfig{Timeout: 100 * time.Millisecond})
				if f.down {
					if errkind.Of(err) != errkind.KindRun || !strings.Contains(err.Error(), "not answering") {
						t.Errorf("err = %v, want a run error: not answering", err)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if res.Errors != 4 || res.ErrorsByKind[want] != 4 || res.Requests != 0 {
					t.Errorf("errors %d by kind %v, requests %d; want 4 %s, none", res.Errors, res.ErrorsByKind, res.Requests, want)
				}
				if res.ErrorsByClass[InputNaN] != 2 || res.ErrorsByClass[InputNormal] != 2 {
					t.Errorf("errors by class %v, want 2 nan, 2 normal", res.ErrorsByClass)
				}
				if ex := slices.Sorted(slices.Values(res.ErrorExamples[want])); !slices.Equal(ex, []int64{10, 12}) {
					t.Errorf("example rows %v, want [10 12]", res.ErrorExamples)
				}
				if res.FirstError == "" || strings.Contains(res.FirstError, "\n") {
					t.Errorf("first error %q, want one line", res.FirstError)
				}
				if res.Histogram == nil || res.Histogram.Count() != 0 {
					t.Errorf("histogram %v, want an empty one", res.Histogram)
				}
			})
		}
	}
}

func TestRemoteGoesOnThroughSomeErrors(t *testing.T) {
	for _, k := range remoteKinds[:2] {
		t.Run(k.name, func(t *testing.T) {
			// One caller for gRPC: a dropped HTTP/2 connection takes every
			// call multiplexed on it down with it.
			conc := 3
			if k.name == "kserve-grpc" {
				conc = 1
			}
			res, err := runFaulted(t, k, kservetest.Faults{ErrorFraction: 0.25, DropFraction: 0.1},
				Block{Requests: 40, Concurrency: conc, Record: true}, RemoteConfig{})
			if err != nil {
				t.Fatal(err)
			}
			// Drops come first: 4 of 40; then errors: 9 of the other 36.
			if res.Errors != 13 || res.Requests != 27 || res.Histogram.Count() != 27 {
				t.Errorf("%d errors %v, %d requests, %d samples; want 13, 27, 27", res.Errors, res.ErrorsByKind, res.Requests, res.Histogram.Count())
			}
			if res.ErrorsByKind[ErrKindConnReset] != 4 {
				t.Errorf("by kind %v, want 4 connection resets", res.ErrorsByKind)
			}
		})
	}
}

func TestRemoteSlowTailAndLatency(t *testing.T) {
	res, err := runFaulted(t, remoteKinds[0], kservetest.Faults{Latency: 2 * time.Millisecond, SlowFraction: 0.1, SlowLatency: 30 * time.Millisecond},
		Block{Requests: 50, Concurrency: 5, Record: true}, RemoteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	h := res.Histogram
	if p50 := h.Quantile(0.5); p50 < 2*time.Millisecond || p50 > 20*time.Millisecond {
		t.Errorf("p50 %v, want about 2ms", p50)
	}
	if p95 := h.Quantile(0.95); p95 < 32*time.Millisecond {
		t.Errorf("p95 %v, want the 32ms tail", p95)
	}
}

func TestOpenLoopStallShowsInTail(t *testing.T) {
	skipTimingInShort(t)
	for _, k := range remoteKinds[:2] {
		t.Run(k.name, func(t *testing.T) {
			s := startServer(t, k.opts)
			tgt, err := k.start(context.Background(), s, RemoteConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			// 100 req/s for 0.8 s, 4 callers; a 200 ms stall from 0.195 s
			// holds 20 slots' worth of calls behind 4 busy callers. The
			// call of the slot at 0.2 s waits the stall out: ~195 ms.
			timer := time.AfterFunc(195*time.Millisecond, func() { s.Stall(200 * time.Millisecond) })
			defer timer.Stop()
			start := time.Now()
			res, err := tgt.Run(context.Background(), Block{
				Batches: []BlockBatch{sumBatch(1)}, Requests: 80, Rate: 100, Concurrency: 4, Record: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if res.Requests != 80 || res.Errors != 0 {
				t.Fatalf("%d requests, %d errors (%s)", res.Requests, res.Errors, res.FirstError)
			}
			h := res.Histogram
			t.Logf("p50 %v p99 %v max %v late %d in %v", h.Quantile(0.5), h.Quantile(0.99), h.Max(), res.Late, took)
			if h.Max() < 185*time.Millisecond {
				t.Errorf("max %v: the stall should show as ~195ms from the intended start", h.Max())
			}
			if h.Quantile(0.9) < 50*time.Millisecond {
				t.Errorf("p90 %v: the calls queued behind the stall should all be slow", h.Quantile(0.9))
			}
			if h.Quantile(0.5) > 50*time.Millisecond {
				t.Errorf("p50 %v: most calls are outside the stall", h.Quantile(0.5))
			}
			if res.Late == 0 {
				t.Error("no late starts, though every caller was stuck in the stall")
			}
			if took < 790*time.Millisecond || took > 1500*time.Millisecond {
				t.Errorf("block took %v, want about the schedule's 0.8s", took)
			}
		})
	}
}

func TestOpenLoopKeepsSchedule(t *testing.T) {
	skipTimingInShort(t)
	s := startServer(t, kservetest.Options{})
	tgt, err := NewKServeREST(context.Background(), RemoteConfig{URL: s.ModelURL(), Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	for _, arrival := range []Arrival{ArrivalConstant, ArrivalPoisson} {
		start := time.Now()
		res, err := tgt.Run(context.Background(), Block{
			Batches: []BlockBatch{sumBatch(1)}, Requests: 50, Rate: 200, Arrival: arrival, Concurrency: 8, Record: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if res.Requests != 50 || res.Late != 0 {
			t.Errorf("arrival %d: %d requests, %d late; want 50, 0", arrival, res.Requests, res.Late)
		}
		// 49 gaps of 5 ms on average.
		if took < 100*time.Millisecond || took > 800*time.Millisecond {
			t.Errorf("arrival %d: took %v, want about 245ms", arrival, took)
		}
	}
	// A duration block stops scheduling at its deadline.
	res, err := tgt.Run(context.Background(), Block{Duration: 100 * time.Millisecond, Rate: 100, Concurrency: 0})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 10 {
		t.Errorf("100ms at 100/s made %d calls, want 10", res.Requests)
	}
}

func TestScheduleOffsets(t *testing.T) {
	c := newSchedule(100, ArrivalConstant, nil)
	for i, want := range []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond} {
		if got := c.offset(int64(i)); got != want {
			t.Errorf("constant offset %d = %v, want %v", i, got, want)
		}
	}
	if got := c.offset(1000); got != 10*time.Second {
		t.Errorf("constant offset 1000 = %v, want 10s", got)
	}
	draw := func(seed uint64) []time.Duration {
		s := newSchedule(1000, ArrivalPoisson, newRemoteTarget(RemoteConfig{Seed: seed}, "", nil).rng)
		var out []time.Duration
		for i := range int64(2000) {
			out = append(out, s.offset(i))
		}
		return out
	}
	a, b := draw(1), draw(1)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different schedules")
	}
	if reflect.DeepEqual(a, draw(2)) {
		t.Error("different seeds gave the same schedule")
	}
	if a[0] != 0 {
		t.Errorf("first call at %v, want at once", a[0])
	}
	// 1999 exponential gaps of mean 1 ms: within ±10%.
	if mean := a[1999] / 1999; mean < 900*time.Microsecond || mean > 1100*time.Microsecond {
		t.Errorf("mean gap %v, want about 1ms", mean)
	}
}

func TestRemoteCancel(t *testing.T) {
	s := startServer(t, kservetest.Options{})
	tgt, err := NewKServeGRPC(context.Background(), RemoteConfig{URL: s.GRPCURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	s.SetFaults(kservetest.Faults{StallFraction: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = tgt.Run(ctx, Block{Batches: []BlockBatch{sumBatch(1)}, Requests: 1 << 40, Concurrency: 2, Record: true})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v to stop", took)
	}
}

// TestSecretsNeverShow sends a wrong bearer token to a server that echoes
// it in its 401, with a password and an API key in the URL: none of them
// may appear in an error, a result or the target's info.
func TestSecretsNeverShow(t *testing.T) {
	const token = "s3cret-token-value"
	const password = "hunter2-password"
	const apiKey = "api-key-in-query"
	for _, k := range remoteKinds {
		t.Run(k.name, func(t *testing.T) {
			opts := k.opts
			opts.RequireHeader = [2]string{"Authorization", "Bearer right-token"}
			s := startServer(t, opts)
			cfg := RemoteConfig{
				Name:         "candidate",
				Headers:      []Header{{Name: "Authorization", Value: "Bearer " + token}},
				SecretValues: []string{password},
				ReadyTimeout: 200 * time.Millisecond,
			}
			check := func(what, s string) {
				t.Helper()
				for _, secret := range []string{token, password, apiKey} {
					if strings.Contains(s, secret) {
						t.Errorf("%s shows a secret: %s", what, s)
					}
				}
			}

			// Binding with the wrong token fails on readiness (except for
			// plain HTTP, which has none), with the echo scrubbed.
			bad, err := k.start(context.Background(), s, cfg)
			if err == nil {
				bad.Close()
				if k.name != "http-json" {
					t.Fatal("bound with a wrong token")
				}
			} else {
				check("bind error", err.Error())
				if !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "Unauthenticated") {
					t.Errorf("bind error %q does not say why", err)
				}
			}

			// Bound with the right token, then given the wrong one, the
			// way a token that expires mid-run would be.
			good := cfg
			good.Headers = []Header{{Name: "Authorization", Value: "Bearer right-token"}}
			tgt, err := k.start(context.Background(), s, good)
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.Close()
			rt := tgt.(*remoteTarget)
			rt.secrets = cfg.Secrets()
			switch c := rt.client.(type) {
			case *kserveREST:
				c.jsonHeader.Set("Authorization", "Bearer "+token)
				c.secrets = rt.secrets
			case *tfServing:
				c.jsonHeader.Set("Authorization", "Bearer "+token)
				c.secrets = rt.secrets
			case *httpJSON:
				c.reqHdr.Set("Authorization", "Bearer "+token)
				c.secrets = rt.secrets
			case *kserveGRPC:
				c.md.Set("authorization", "Bearer "+token)
				c.secrets = rt.secrets
			}
			res, err := tgt.Run(context.Background(), Block{Batches: []BlockBatch{sumBatch(1)}, Requests: 3, Concurrency: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 3 || res.FirstError == "" {
				t.Fatalf("%+v, want 3 auth errors", res)
			}
			// gRPC's status message is part of the error itself; an HTTP
			// body is the server's words, kept for the log only.
			if where := res.FirstErrorDetail + res.FirstError; !strings.Contains(where, redactedMark) {
				t.Errorf("first error %q / %q: the echoed token should show as %s", res.FirstError, res.FirstErrorDetail, redactedMark)
			}
			check("first error", res.FirstError)
			check("first error, detail", res.FirstErrorDetail)
			check("info", fmt.Sprintf("%+v", tgt.Info()))
			check("result", fmt.Sprintf("%+v", res))
		})
	}
	t.Run("url", func(t *testing.T) {
		cfg := RemoteConfig{URL: "http://user:" + password + "@127.0.0.1:1/v2/models/m?key=" + apiKey,
			Headers: []Header{{Name: "X-Api-Key", Value: token}}, ReadyTimeout: 100 * time.Millisecond}
		_, err := NewKServeREST(context.Background(), cfg)
		if err == nil {
			t.Fatal("bound to nothing")
		}
		for _, secret := range []string{token, password, apiKey, "user:"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows %q: %v", secret, err)
			}
		}
		red := cfg.Redacted()
		for _, secret := range []string{token, password, apiKey} {
			if strings.Contains(fmt.Sprintf("%+v", red), secret) {
				t.Errorf("Redacted() shows %q: %+v", secret, red)
			}
		}
		if got := cfg.Redact("token " + token + " and " + password); strings.Contains(got, token) || strings.Contains(got, password) {
			t.Errorf("Redact left a secret: %s", got)
		}
	})
}

func TestRemoteTLS(t *testing.T) {
	s := startServer(t, kservetest.Options{TLS: true})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CACertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	// Verification is on by default: an unknown CA never becomes ready.
	_, err := NewKServeREST(context.Background(), RemoteConfig{URL: s.ModelURL(), ReadyTimeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("err = %v, want a certificate error", err)
	}
	_, err = NewKServeGRPC(context.Background(), RemoteConfig{URL: s.GRPCURL(), ReadyTimeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("gRPC: err = %v, want a certificate error", err)
	}
	for _, cfg := range []RemoteConfig{
		{URL: s.ModelURL(), CACert: ca},
		{URL: s.ModelURL(), Insecure: true},
		{URL: s.GRPCURL(), CACert: ca},
		{URL: s.GRPCURL(), Insecure: true},
	} {
		tgt, err := StartEndpoint(context.Background(), EndpointConfig{RemoteConfig: cfg})
		if err != nil {
			t.Fatal(err)
		}
		res, err := tgt.Run(context.Background(), Block{Batches: []BlockBatch{sumBatch(1)}, Requests: 3, Concurrency: 1})
		tgt.Close()
		if err != nil || res.Requests != 3 {
			t.Errorf("%+v, %v; want 3 requests", res, err)
		}
	}
	_, err = NewKServeREST(context.Background(), RemoteConfig{URL: s.ModelURL(), CACert: filepath.Join(t.TempDir(), "none.pem")})
	if errkind.Of(err) != errkind.KindInput {
		t.Errorf("missing CA file: err = %v, want an input error", err)
	}
}

func TestRemoteBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		make func() (Target, error)
	}{
		{"rest without /v2/models", func() (Target, error) { return NewKServeREST(ctx, RemoteConfig{URL: "http://127.0.0.1:1/models/x"}) }},
		{"rest with grpc scheme", func() (Target, error) { return NewKServeREST(ctx, RemoteConfig{URL: "grpc://127.0.0.1:1/v2/models/x"}) }},
		{"grpc without model", func() (Target, error) { return NewKServeGRPC(ctx, RemoteConfig{URL: "grpc://127.0.0.1:1"}) }},
		{"tf format", func() (Target, error) {
			return NewTFServing(ctx, TFServingConfig{RemoteConfig: RemoteConfig{URL: "http://127.0.0.1:1/v1/models/x"}, Format: "rows"})
		}},
		{"template syntax", func() (Target, error) {
			return NewHTTPJSON(ctx, HTTPJSONConfig{RemoteConfig: RemoteConfig{URL: "http://127.0.0.1:1/"}, RequestTemplate: "{{.Row.x", Inputs: []loader.InputSpec{{Name: "x", DType: loader.Float32, Shape: []int64{-1}}}})
		}},
		{"template names no input", func() (Target, error) {
			return NewHTTPJSON(ctx, HTTPJSONConfig{RemoteConfig: RemoteConfig{URL: "http://127.0.0.1:1/"}, RequestTemplate: `{"a": {{json .Row.y}}}`, Inputs: []loader.InputSpec{{Name: "x", DType: loader.Float32, Shape: []int64{-1}}}})
		}},
		{"template not json", func() (Target, error) {
			return NewHTTPJSON(ctx, HTTPJSONConfig{RemoteConfig: RemoteConfig{URL: "http://127.0.0.1:1/"}, RequestTemplate: `{"a": {{.Row.x}`, Inputs: []loader.InputSpec{{Name: "x", DType: loader.Float32, Shape: []int64{-1}}}})
		}},
		{"protocol", func() (Target, error) {
			return StartEndpoint(ctx, EndpointConfig{RemoteConfig: RemoteConfig{URL: "http://x/"}, Protocol: "soap"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt, err := tc.make()
			if err == nil {
				tgt.Close()
				t.Fatal("made a target")
			}
			if errkind.Of(err) != errkind.KindInput {
				t.Errorf("err = %v (%v), want an input error", err, errkind.Of(err))
			}
		})
	}
}

func TestGuessProtocol(t *testing.T) {
	for url, want := range map[string]string{
		"grpc://h:8001/m":                       ProtocolKServeGRPC,
		"grpcs://h/m":                           ProtocolKServeGRPC,
		"http://h:8080/v2/models/m":             ProtocolKServeREST,
		"https://h/prefix/v2/models/m/infer":    ProtocolKServeREST,
		"http://h:8501/v1/models/m:predict":     ProtocolTFServing,
		"https://api.example.com/predict?k=v":   ProtocolHTTP,
		"http://h/v1/models/m/versions/3":       ProtocolTFServing,
		"http://h/v2/models/m/versions/2/infer": ProtocolKServeREST,
	} {
		if got := GuessProtocol(url); got != want {
			t.Errorf("GuessProtocol(%s) = %s, want %s", url, got, want)
		}
	}
}

func TestTemplateView(t *testing.T) {
	b := BlockBatch{Rows: 2, Tensors: []loader.Tensor{
		{Name: "x", DType: loader.Float32, Shape: []int64{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "id", DType: loader.Int64, Shape: []int64{2}, Data: []int64{7, 8}},
		{Name: "h", DType: loader.Float16, Shape: []int64{2, 1}, Data: []uint16{0x3c00, 0x4000}}, // 1, 2
		{Name: "u", DType: loader.Uint8, Shape: []int64{2}, Data: []uint8{250, 3}},
	}}
	v, err := templateView(b)
	if err != nil {
		t.Fatal(err)
	}
	js := func(x any) string { s, _ := templateJSON(x); return s }
	for _, tc := range [][2]string{
		{js(v.Inputs["x"]), "[[1,2,3],[4,5,6]]"},
		{js(v.Inputs["id"]), "[7,8]"},
		{js(v.Inputs["h"]), "[[1],[2]]"},
		{js(v.Inputs["u"]), "[250,3]"},
		{js(v.Rows[1]["x"]), "[4,5,6]"},
		{js(v.Rows[1]["id"]), "8"},
		{js(v.Rows[0]["u"]), "250"},
	} {
		if tc[0] != tc[1] {
			t.Errorf("got %s, want %s", tc[0], tc[1])
		}
	}
	if v.Row != nil || v.NumRows != 2 {
		t.Errorf("Row %v NumRows %d; want nil, 2", v.Row, v.NumRows)
	}
}

func TestRemoteRequestBodies(t *testing.T) {
	b := BlockBatch{Rows: 2, Tensors: []loader.Tensor{
		{Name: "x", DType: loader.Float16, Shape: []int64{2, 2}, Data: []uint16{0x3c00, 0x3800, 0xc000, 0}}, // 1, 0.5, -2, 0
		{Name: "m", DType: loader.Bool, Shape: []int64{2}, Data: []bool{true, false}},
	}}
	kr := &kserveREST{}
	req, err := kr.prepare(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP16","data":[1,0.5,-2,0]},{"name":"m","shape":[2],"datatype":"BOOL","data":[true,false]}]}`
	if got := string(req.(*kserveRESTRequest).body); got != want {
		t.Errorf("v2 body\n got %s\nwant %s", got, want)
	}
	tf := &tfServing{format: TFRow, signature: "serving_default"}
	req, err = tf.prepare(b)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"signature_name":"serving_default","instances":[{"x":[1,0.5],"m":true},{"x":[-2,0],"m":false}]}`
	if got := string(req.(*tfRequest).body); got != want {
		t.Errorf("TF row body\n got %s\nwant %s", got, want)
	}
	tf.format = TFColumnar
	req, err = tf.prepare(b)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"signature_name":"serving_default","inputs":{"x":[[1,0.5],[-2,0]],"m":[true,false]}}`
	if got := string(req.(*tfRequest).body); got != want {
		t.Errorf("TF columnar body\n got %s\nwant %s", got, want)
	}
	nan := BlockBatch{Rows: 1, Tensors: []loader.Tensor{{Name: "x", DType: loader.Float32, Shape: []int64{1}, Data: []float32{float32(math.NaN())}}}}
	if _, err := kr.prepare(nan); err == nil || !strings.Contains(err.Error(), "JSON cannot carry") {
		t.Errorf("NaN: err = %v", err)
	}
}

func TestCountJSONValues(t *testing.T) {
	for in, want := range map[string]int64{
		`[]`: 0, `[1,2,3]`: 3, `[[1,2],[3,4]]`: 4, `[true, false]`: 2, `[ "a", "b,]" ]`: 2, `[1e-3, -2.5E+10]`: 2,
	} {
		got, err := countJSONValues([]byte(in))
		if err != nil || got != want {
			t.Errorf("countJSONValues(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := countJSONValues([]byte(`[{"a":1}]`)); err == nil {
		t.Error("an object counted as values")
	}
}

func TestErrorKindNames(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{status.Error(codes.Internal, "boom"), "grpc_internal"},
		{status.Error(codes.ResourceExhausted, "queue full"), "grpc_resource_exhausted"},
		{status.Error(codes.InvalidArgument, "bad shape"), "grpc_invalid_argument"},
		{status.Error(codes.DeadlineExceeded, "slow"), ErrKindTimeout},
		{status.Error(codes.Unavailable, `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`), ErrKindConnRefused},
		{status.Error(codes.Unavailable, "error reading from server: EOF"), ErrKindConnReset},
		{status.Error(codes.Unavailable, "overloaded"), "grpc_unavailable"},
		{status.Error(codes.Internal, "grpc: error unmarshalling response: proto: cannot parse"), ErrKindProtocol},
		{context.DeadlineExceeded, ErrKindTimeout},
	} {
		if got := classifyGRPC(tc.err); got != tc.want {
			t.Errorf("classifyGRPC(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), ErrKindConnRefused},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), ErrKindConnReset},
		{io.ErrUnexpectedEOF, ErrKindConnReset},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), ErrKindTimeout},
		{errors.New("tls: failed to verify certificate"), ErrKindConnection},
		{httpStatusError(404, ""), ErrKindHTTP4xx},
		{httpStatusError(503, "busy"), ErrKindHTTP5xx},
		{httpStatusError(302, ""), ErrKindHTTPOther},
		{protocolError("no outputs"), ErrKindProtocol},
	} {
		if got := classifyTransport(tc.err); got != tc.want {
			t.Errorf("classifyTransport(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestRemoteServesRealONNXModel binds both v2 protocols to a server that
// runs the repository's MLP through ONNX Runtime.
func TestRemoteServesRealONNXModel(t *testing.T) {
	lib := ortlib.Require(t)
	m, err := kservetest.NewONNXModel(lib, testdata("mlp_base.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := startServer(t, kservetest.Options{Model: m, ModelName: "mlp"})
	for _, url := range []string{s.ModelURL(), s.GRPCURL()} {
		tgt, err := StartEndpoint(context.Background(), EndpointConfig{RemoteConfig: RemoteConfig{Name: "production", URL: url}})
		if err != nil {
			t.Fatal(err)
		}
		in := tgt.Info().Inputs
		if len(in) != 1 || in[0].Name != "features" || in[0].DType != loader.Float32 || !reflect.DeepEqual(in[0].Shape, []int64{-1, 64}) {
			t.Errorf("%s: inputs %v, want features float32[-1 64]", url, in)
		}
		res, err := tgt.Run(context.Background(), Block{Batches: []BlockBatch{mlpBatch(1), mlpBatch(4)}, Requests: 20, Concurrency: 2, Record: true})
		tgt.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests != 20 || res.Rows != 50 || res.Errors != 0 {
			t.Errorf("%s: %+v", url, res)
		}
	}
}

func TestScanV2Response(t *testing.T) {
	good := []string{
		`{"model_name":"m","outputs":[{"name":"sum","datatype":"FP32","shape":[2],"data":[10,26]}]}`,
		` { "outputs" : [ { "shape" : [ 2 , 1 ] , "data" : [[1.5e3],[-2]], "parameters": {"a": [1, {"b": null}]}, "name": "a\"b" } , {"name":"o2","shape":[],"data":[true]} ] , "id" : "x" } `,
		`{"outputs":[],"error":"model failed"}`,
	}
	for _, in := range good {
		got, err := scanV2Response([]byte(in))
		if err != nil {
			t.Errorf("scanV2Response(%s): %v", in, err)
			continue
		}
		var want v2InferResponse
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if len(got.Outputs) != len(want.Outputs) || got.Error != want.Error {
			t.Errorf("scanV2Response(%s) = %+v, want %+v", in, got, want)
			continue
		}
		for i := range got.Outputs {
			g, w := got.Outputs[i], want.Outputs[i]
			if g.Datatype != w.Datatype || !reflect.DeepEqual(g.Shape, w.Shape) && len(w.Shape) > 0 || string(g.Data) != string(w.Data) {
				t.Errorf("output %d = %+v, want %+v", i, g, w)
			}
		}
	}
	for _, in := range []string{
		``, `{`, `{"outputs":[{"shape":[2],"data":[1,2]}`, `{"outputs":[{"shape":["x"]}]}`,
		`{"outputs": [truncated`, `{"outputs":[]} x`, `[1]`, `{"a" 1}`,
	} {
		if _, err := scanV2Response([]byte(in)); err == nil {
			t.Errorf("scanV2Response(%s) accepted it", in)
		}
	}
	// What check makes of the answers.
	for in, wantErr := range map[string]string{
		`{"outputs":[{"name":"o","shape":[2],"data":[1,2]}]}`: "",
		`{"outputs":[{"name":"o","shape":[3],"data":[1,2]}]}`: "holds 3 values, data has 2",
		`{"outputs":[]}`:   "no outputs",
		`{"error":"boom"}`: "carries an error: boom",
	} {
		err := (&kserveREST{}).check(nil, &callBuf{body: []byte(in)})
		if (err == nil) != (wantErr == "") || err != nil && !strings.Contains(err.Error(), wantErr) {
			t.Errorf("check(%s) = %v, want %q", in, err, wantErr)
		}
	}
}

func TestHTTPJSONResponsePath(t *testing.T) {
	s := startServer(t, kservetest.Options{})
	inputs := []loader.InputSpec{{Name: "x", DType: loader.Float32, Shape: []int64{-1, 4}}}
	for path, wantErrs := range map[string]int64{"inputs.0.name": 0, "inputs.1.name": 3, "outputs.0.nope": 3, "name.x": 3} {
		// GET of the model's metadata: no body, no template.
		tgt, err := NewHTTPJSON(context.Background(), HTTPJSONConfig{
			RemoteConfig: RemoteConfig{URL: s.ModelURL()}, Method: "get", ResponsePath: path, Inputs: inputs,
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := tgt.Run(context.Background(), Block{Batches: []BlockBatch{sumBatch(1)}, Requests: 3, Concurrency: 1})
		tgt.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != wantErrs || res.ErrorsByKind[ErrKindProtocol] != wantErrs {
			t.Errorf("path %s: %d errors %v (%s), want %d protocol errors", path, res.Errors, res.ErrorsByKind, res.FirstError, wantErrs)
		}
	}
}

// skipTimingInShort skips a test whose assertions rest on measured
// latency or rates: `make race` runs -short, and under the race detector,
// which slows code several-fold, such numbers are not the code's.
func skipTimingInShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("asserts on measured timing; skipped in -short runs (make race)")
	}
}

// TestServedVersion: the URL's version wins; else the metadata's only one,
// if it looks like a version (it is printed in every report).
func TestServedVersion(t *testing.T) {
	for _, tc := range []struct {
		url    string
		listed []string
		want   string
	}{
		{"3", []string{"1", "2"}, "3"},
		{"", []string{"7"}, "7"},
		{"", []string{"2024-11-01_rc.1"}, "2024-11-01_rc.1"},
		{"", []string{"1", "2"}, ""},
		{"", nil, ""},
		{"", []string{"1\n| injected |"}, ""},
		{"", []string{strings.Repeat("9", 65)}, ""},
	} {
		if got := servedVersion(tc.url, tc.listed); got != tc.want {
			t.Errorf("servedVersion(%q, %q) = %q, want %q", tc.url, tc.listed, got, tc.want)
		}
	}
}
