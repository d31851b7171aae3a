package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// model is one model to measure, with its role and its own bindings.
type model struct {
	Role     result.Role
	Path     string
	InputMap map[string]string
}

// measurement is a validated, ready-to-run measurement.
type measurement struct {
	flags   measureFlags
	plan    bench.Plan
	fills   []loader.Fill
	models  []model
	libPath string
}

// judgeFunc judges a result at a look of the measurement, setting its
// checks and verdict, and reports whether every check is decided.
type judgeFunc func(res *result.Result, look, looks int) (decided bool, err error)

// measure loads the models, binds the dataset and runs the plan, judging at
// each look. When the run fails part-way, the partial result is returned
// together with the error.
func (ms *measurement) measure(ctx context.Context, e *env, logf bench.Logf, judge judgeFunc) (*result.Result, error) {
	res := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Tool:          result.Tool{Name: "infergate", Version: version},
		StartedAt:     time.Now().UTC(),
		Machine:       machineInfo(),
		Targets:       []result.Target{},
		Checks:        []result.Check{},
	}
	f := ms.flags
	res.Config = result.Config{
		Dataset:           f.Dataset,
		Rows:              f.Rows,
		BatchSize:         f.BatchSize,
		Shuffle:           f.shuffle,
		ShuffleSeed:       f.ShuffleSeed,
		Warmup:            ms.plan.Warmup.String(),
		Requests:          ms.plan.Measure.Requests,
		Rounds:            ms.plan.Rounds,
		MinRounds:         ms.plan.MinRounds,
		RoundTime:         ms.plan.RoundTime.String(),
		Concurrency:       ms.plan.Concurrency,
		Device:            f.Device,
		IntraThreads:      f.IntraOpThreads,
		InterThreads:      f.InterOpThreads,
		GraphOptimization: f.GraphOptimization,
	}
	if ms.plan.Measure.Duration > 0 {
		res.Config.Duration = ms.plan.Measure.Duration.String()
	}
	if ms.plan.Sequential() {
		res.Config.Rounds = 0
		res.Config.MaxDuration = ms.plan.MaxDuration.String()
	} else {
		res.Config.MinRounds, res.Config.RoundTime = 0, ""
	}

	ds, err := loader.Open(f.Dataset, loader.ReadOptions{})
	if err != nil {
		return nil, err
	}
	defer ds.Close()
	res.Config.DatasetRows = ds.NumRows()

	exe, err := e.Executable()
	if err != nil {
		return nil, errkind.Run(fmt.Errorf("cannot find the infergate binary to start workers: %w", err))
	}
	targets := make([]bench.Target, 0, len(ms.models))
	defer func() {
		for _, t := range targets {
			t.Close()
		}
	}()
	for _, m := range ms.models {
		logf("loading %s model %s", m.Role, m.Path)
		t, err := bench.StartONNX(ctx, bench.ONNXConfig{
			Name:              filepath.Base(m.Path),
			ModelPath:         m.Path,
			LibPath:           ms.libPath,
			Device:            f.Device,
			IntraOpThreads:    f.IntraOpThreads,
			InterOpThreads:    f.InterOpThreads,
			GraphOptimization: f.GraphOptimization,
			Worker:            bench.WorkerCommand{Path: exe, Args: []string{"worker"}, Env: e.WorkerEnv},
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%s model: %w", m.Role, err)
		}
		targets = append(targets, t)
		res.Machine.ORTVersion = t.Info().ORTVersion
	}

	var specs [][]loader.InputSpec
	for _, t := range targets {
		specs = append(specs, t.Info().Inputs)
	}
	if err := loader.ValidateFills(ms.fills, specs...); err != nil {
		return nil, err
	}
	for _, m := range ms.models {
		if err := loader.ValidateInputMap(m.InputMap, specs...); err != nil {
			return nil, err
		}
	}
	var bindings []*loader.Binding
	for i, m := range ms.models {
		b, err := loader.NewBinding(ds, specs[i], loader.BindOptions{
			InputMap: m.InputMap,
			Fills:    ms.fills,
			PadValue: f.PadValue,
		})
		if err != nil {
			return nil, fmt.Errorf("%s model %s: %w", m.Role, filepath.Base(m.Path), err)
		}
		bindings = append(bindings, b)
	}
	src, err := loader.NewSource(ds, bindings, loader.SourceOptions{
		BatchSize: f.BatchSize,
		Rows:      f.Rows,
		Shuffle:   f.shuffle,
		Seed:      f.ShuffleSeed,
	})
	if err != nil {
		return nil, err
	}
	defer src.Close()

	look := func(m *bench.Measurement, look, looks int) (bool, error) {
		if err := ms.fillTargets(res, m); err != nil {
			return false, err
		}
		return judge(res, look, looks)
	}
	m, merr := bench.Measure(ctx, targets, src, ms.plan, bench.Hooks{Logf: logf, Look: look})
	res.FinishedAt = time.Now().UTC()
	res.ToolPeakRSSBytes = selfPeakRSS()
	if m == nil {
		return nil, merr
	}
	res.Interrupted = m.Interrupted
	if err := ms.fillTargets(res, m); err != nil {
		return nil, err
	}
	if merr != nil {
		res.Verdict = result.VerdictError
		res.Error = merr.Error()
	}
	return res, merr
}

// fillTargets (re)writes the result's targets from the measurement so far.
func (ms *measurement) fillTargets(res *result.Result, m *bench.Measurement) error {
	res.Targets = res.Targets[:0]
	for i, tm := range m.Targets {
		rt, err := tm.ToResult(ms.models[i].Role)
		if err != nil {
			return errkind.Run(err)
		}
		res.Targets = append(res.Targets, rt)
	}
	return nil
}

// libraryPath finds ONNX Runtime: --ort-lib, then $ONNXRUNTIME_LIB, then
// the per-user cache that `make ort` fills.
func libraryPath(flag string, getenv func(string) string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p := getenv(ortlib.EnvVar); p != "" {
		return p, nil
	}
	p, err := ortlib.CachePath()
	if err == nil {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errkind.Input(fmt.Errorf("no ONNX Runtime library found: run `make ort` (fetches ONNX Runtime %s into %s), or point --ort-lib or %s at libonnxruntime.so of version 1.24.x",
		ortlib.Version, orUnknown(p), ortlib.EnvVar))
}

func orUnknown(s string) string {
	if s == "" {
		return "the cache"
	}
	return s
}

// machineInfo describes this machine for the result.
func machineInfo() result.Machine {
	m := result.Machine{
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		CPUModel:  cpuModel(),
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// progress returns a logger for stderr progress lines, or a silent one.
func progress(e *env, quiet bool) bench.Logf {
	if quiet {
		return func(string, ...any) {}
	}
	start := time.Now()
	return func(format string, args ...any) {
		fmt.Fprintf(e.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
}

// runFailure keeps errors classified: anything a command returns that no
// package classified is a failed run.
func runFailure(err error) error {
	if err == nil || errkind.Of(err) != errkind.KindUnknown || errors.Is(err, context.Canceled) {
		return err
	}
	return errkind.Run(err)
}

// selfPeakRSS is this process's peak resident set (VmHWM), 0 if unknown.
func selfPeakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
