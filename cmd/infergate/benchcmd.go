package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

// benchOptions are the flags of `infergate bench`.
type benchOptions struct {
	measureFlags
	Model string
	URL   string
}

func newBenchCmd(e *env) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench --model MODEL.onnx --dataset TEST.parquet",
		Short: "Measure one model, without a comparison",
		Example: `  infergate bench --model ./model.onnx --dataset ./test_data.parquet --json out.json
  infergate bench --model ./model.onnx --dataset ./test_data.parquet --max-p99 5ms
  infergate bench --model ./model.onnx --dataset ./test_data.parquet --device cuda:0 --batch-sizes 1,8,32
  # an endpoint, open loop at 200 requests/s:
  infergate bench --url grpc://models.internal:8081/ranker --dataset ./test_data.parquet \
      --rate 200 --duration 60s --markdown report.md
  infergate bench --config infergate.yaml --json baseline.json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(e, cmd.Flags())
			if err != nil {
				return err
			}
			if err := cfg.apply(cmd.Flags(), cfg.topSettings()); err != nil {
				return err
			}
			o.afterParse(cmd.Flags())
			return exitWith(runBench(cmd.Context(), e, o))
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&o.Model, "model", "", "ONNX model to measure")
	cmd.Flags().StringVar(&o.URL, "url", "", "endpoint to measure instead of a local model (see `infergate run --help`)")
	return cmd
}

func runBench(ctx context.Context, e *env, o *benchOptions) (ExitCode, error) {
	if (o.Model == "") == (o.URL == "") {
		return 0, errkind.Input(errors.New("give one model: --model FILE.onnx or --url ENDPOINT"))
	}
	if o.Dataset == "" {
		return 0, errkind.Input(errors.New("no test set: give --dataset FILE.parquet"))
	}
	var thr compare.Thresholds
	if err := o.budgets(&thr); err != nil {
		return 0, err
	}
	specs, err := compare.NewSpecs(thr, compare.ModeSingle)
	if err != nil {
		return 0, err
	}
	ms := measurement{flags: o.measureFlags}
	if ms.plan, err = o.plan(); err != nil {
		return 0, err
	}
	if ms.stages, err = o.stages(); err != nil {
		return 0, err
	}
	if ms.fills, err = parseFills(o.Fills); err != nil {
		return 0, err
	}
	inputMap, err := parseInputMaps("input-map", o.InputMaps)
	if err != nil {
		return 0, err
	}
	ms.models = []model{{Role: result.RoleSingle, Path: o.Model, URL: o.URL, InputMap: inputMap}}
	if err := ms.setup(e.Getenv); err != nil {
		return 0, err
	}
	ms.show = newProgress(e, o.Quiet, o.Verbose)
	logf := ms.show.logf
	res, err := ms.measure(ctx, e, logf, judgeWith(specs, o.Confidence, logf))
	if res == nil {
		return 0, runFailure(err)
	}
	res.Config.Command = "bench"
	// The budgets as given, so that merge can judge them again.
	for flag, v := range map[string]string{"max-p50": o.MaxP50, "max-p95": o.MaxP95, "max-p99": o.MaxP99} {
		if v != "" {
			if res.Config.Thresholds == nil {
				res.Config.Thresholds = map[string]string{}
			}
			res.Config.Thresholds[flag] = v
		}
	}
	if len(specs) == 0 && err == nil && !res.Interrupted {
		res.Verdict = result.VerdictNone
	}
	return finish(e, res, err, o.measureFlags)
}
