package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/internal/kservetest"
)

func TestParityRemoteSameServersPass(t *testing.T) {
	skipTimingInShort(t)
	prod := sumServer(t, kservetest.Faults{})
	cand := sumServer(t, kservetest.Faults{})
	for _, tc := range []struct{ name, prod, cand string }{
		{"rest", prod.ModelURL(), cand.ModelURL()},
		{"grpc", prod.GRPCURL(), cand.GRPCURL()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			args := append(endpointRun(tc.prod, tc.cand), append(parityQuick, "--json", out)...)
			r := runCLI(t, context.Background(), "1", args...)
			if r.code != ExitPass {
				t.Fatalf("exit %d; stderr: %s\n%s", r.code, r.stderr, r.stdout)
			}
			p := readResult(t, out).Parity
			if p == nil || len(p.Outputs) != 1 || p.Outputs[0].Name != "sum" || p.Outputs[0].WithinTol != 1 {
				t.Fatalf("parity %+v", p)
			}
		})
	}
}

func TestParityRemoteOutputNamesDiffer(t *testing.T) {
	prod := sumServer(t, kservetest.Faults{})
	echo := sumServer(t, kservetest.Faults{}, func(o *kservetest.Options) {
		o.Model = &kservetest.EchoModel{In: []kservetest.TensorMeta{
			{Name: "features", Datatype: "FP32", Shape: []int64{-1, 64}},
		}}
	})
	args := append(endpointRun(prod.ModelURL(), echo.ModelURL()), parityQuick...)
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitBadInput {
		t.Fatalf("exit %d, want 2; stderr: %s\n%s", r.code, r.stderr, r.stdout)
	}
	line := strings.TrimSpace(r.stderr)
	if !strings.Contains(line, "[sum]") || !strings.Contains(line, "[features]") || !strings.Contains(line, "--output-map") {
		t.Fatalf("want the output lists named, got:\n%s", r.stderr)
	}
	r = runCLI(t, context.Background(), "1", append(args, "--output-map", "features=sum")...)
	// Paired by the map, the outputs are fetched and compared: they differ
	// in shape (the echo is [rows 64], the sum [rows]).
	if strings.Contains(r.stderr, "[features]") || !strings.Contains(r.stderr, "output shapes differ") {
		t.Fatalf("with --output-map: exit %d; want the outputs compared, got:\n%s", r.code, r.stderr)
	}
}

func TestParityRemotePlainHTTPRefused(t *testing.T) {
	s := sumServer(t, kservetest.Faults{})
	args := append(endpointRun(s.ModelURL()+"/infer", s.ModelURL()+"/infer", "--protocol", "http"), parityQuick...)
	r := runCLI(t, context.Background(), "1", args...)
	if r.code != ExitBadInput || !strings.Contains(r.stderr, "plain http") {
		t.Fatalf("exit %d, want 2 naming plain http; stderr: %s", r.code, r.stderr)
	}
}
