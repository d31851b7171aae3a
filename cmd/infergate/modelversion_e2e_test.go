package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/infergate/infergate/internal/kservetest"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// versionedModel copies testdata/mlp_base.onnx into dir with its ONNX
// model_version (ModelProto field 5) set: a field appended to a protobuf
// message is read like one in its usual place.
func versionedModel(t *testing.T, dir string, version uint64) string {
	t.Helper()
	b, err := os.ReadFile(td("mlp_base.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	b = protowire.AppendTag(b, 5, protowire.VarintType)
	b = protowire.AppendVarint(b, version)
	p := filepath.Join(dir, "mlp_v7.onnx")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestModelVersionRecorded: the model's own version reaches the result and
// the OpenMetrics "version" label, apart from infergate's version: an ONNX
// file's model_version when set (and no version when it is not), and the
// version a KServe v2 (REST, gRPC) or TF Serving endpoint's URL or
// metadata names.
func TestModelVersionRecorded(t *testing.T) {
	t.Run("onnx", func(t *testing.T) {
		ortlib.Require(t)
		dir := t.TempDir()
		out, prom := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.prom")
		// The committed models leave model_version unset.
		args := slices.Concat([]string{"run", "--candidate", versionedModel(t, dir, 7), "--production", td("mlp_base.onnx"),
			"--dataset", td("mlp.parquet"), "--json", out, "--openmetrics", prom}, quick)
		if r := runCLI(t, context.Background(), "1", args...); r.code != ExitPass {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		res := readResult(t, out)
		if c, p := res.Target(result.RoleCandidate).ModelVersion, res.Target(result.RoleProduction).ModelVersion; c != "7" || p != "" {
			t.Errorf("model versions: candidate %q, production %q; want 7 and none", c, p)
		}
		wantMetricLabels(t, prom, `role="candidate",model="mlp_v7.onnx",version="7",infergate_version=`)
		wantMetricLabels(t, prom, `role="production",model="mlp_base.onnx",infergate_version=`)
	})

	t.Run("endpoints", func(t *testing.T) {
		rest := sumServer(t, kservetest.Faults{Latency: 100 * time.Microsecond})
		tf := sumServer(t, kservetest.Faults{Latency: 100 * time.Microsecond}, func(o *kservetest.Options) { o.TFServing = true })
		for _, tc := range []struct {
			name, prod, cand string
		}{
			// kservetest serves version "1" and lists only it.
			{"kserve REST from metadata, gRPC from the URL", rest.ModelURL(), rest.GRPCURL() + "/versions/1"},
			{"TF Serving from model_spec and the URL", tf.ModelURL(), tf.ModelURL() + "/versions/1"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				out, prom := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.prom")
				args := []string{"run", "--production-url", tc.prod, "--candidate-url", tc.cand, "--dataset", td("mlp.parquet"),
					"--requests", "100", "--rounds", "2", "--warmup", "10", "--quiet", "--json", out, "--openmetrics", prom}
				r := runCLI(t, context.Background(), "1", args...)
				if r.code != ExitPass {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				for _, tg := range readResult(t, out).Targets {
					if tg.ModelVersion != "1" {
						t.Errorf("%s (%s): model version %q, want 1", tg.Role, tg.Kind, tg.ModelVersion)
					}
				}
				wantMetricLabels(t, prom, `role="production"`, `version="1",infergate_version=`)
			})
		}
	})
}

// wantMetricLabels asserts that the OpenMetrics file has a latency
// histogram series whose labels contain every part given.
func wantMetricLabels(t *testing.T, path string, parts ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "infergate_latency_seconds_count{") {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return
		}
	}
	t.Errorf("no infergate_latency_seconds_count series with %q in:\n%s", parts, b)
}
