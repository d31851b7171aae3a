package main

import (
	"github.com/spf13/cobra"
)

// calibrateDuration is an A/A run's measured time (calibrate, run --aa)
// unless --duration or --requests says otherwise.
const calibrateDuration = "30s"

// newCalibrateCmd is `infergate calibrate`: production against itself (an
// A/A run), to measure the noise floor of this machine and plan.
func newCalibrateCmd(e *env) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "calibrate --production PROD.onnx --dataset TEST.parquet",
		Short: "Measure the noise floor: production against itself",
		Long: `calibrate runs the production model against itself (an A/A run), for a
fixed --duration (by default --max-duration if given, else 30s), and
reports how wide the confidence interval of the latency ratio is: the
smallest change this machine and plan can detect. It warns when a threshold is below that. It is the same as
` + "`infergate run --aa`" + `, and exits 0 unless the run itself fails.

Without a check, it judges --max-latency-increase 1.15 to have an interval
to report.`,
		Example: `  infergate calibrate --production ./production.onnx --dataset ./test_data.parquet
  infergate calibrate --production ./production.onnx --dataset ./test_data.parquet \
      --max-latency-increase 1.05 --duration 60s
  infergate calibrate --production ./production.onnx --dataset ./test_data.parquet --device cuda
  infergate calibrate --production-url http://models.internal:8080/v2/models/ranker \
      --dataset ./test_data.parquet --markdown noise.md
  infergate calibrate --config infergate.yaml`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			cfg, err := loadConfig(e, fs)
			if err != nil {
				return err
			}
			if err := cfg.apply(fs, cfg.topSettings()); err != nil {
				return err
			}
			o.afterParse(fs)
			o.AA = true
			o.calibrate = true
			return exitWith(runGate(cmd.Context(), e, o))
		},
	}
	o.registerRun(cmd.Flags(), false)
	return cmd
}
