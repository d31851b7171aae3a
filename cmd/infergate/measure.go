package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// model is one model to measure, with its role and its own bindings.
type model struct {
	Role result.Role
	// Path is a local ONNX file; URL an endpoint. Exactly one is set.
	Path     string
	URL      string
	InputMap map[string]string
}

// label names the model's side in errors: "production model",
// "candidate model", or "model" for bench's only one.
func (m model) label() string {
	if m.Role == result.RoleSingle {
		return "model"
	}
	return string(m.Role) + " model"
}

// where names the model for progress lines and errors.
func (m model) where() string {
	if m.URL != "" {
		return bench.RedactURL(m.URL)
	}
	return m.Path
}

// needsRuntime reports whether any model runs locally in ONNX Runtime.
func needsRuntime(models []model) bool {
	return slices.ContainsFunc(models, func(m model) bool { return m.URL == "" })
}

// measurement is a validated, ready-to-run measurement.
type measurement struct {
	flags   measureFlags
	plan    bench.Plan
	fills   []loader.Fill
	models  []model
	libPath string
	// remote configures the endpoints among the models (nil when none).
	remote *remote
	// stages, when set, make the measurement a load sweep: one whole
	// measurement per stage (see sweep).
	stages []stage
	// parity, when set, compares the models' outputs after the measured
	// pass (--check-outputs; see parity.go).
	parity *parityConfig
	// profile, when set, runs a profiled pass after the measured one
	// (--profile; see profile.go).
	profile *profileConfig
	// gpu says where local models run and which GPUs to watch.
	gpu *gpuConfig
	// show displays the progress (nil: only the Logf lines).
	show *progress
}

// setup finds what the models need: ONNX Runtime for local ones, a
// validated endpoint configuration for remote ones, and the load shape.
func (ms *measurement) setup(getenv func(string) string) error {
	g, err := ms.flags.gpuFlags.validate(ms.models)
	if err != nil {
		return err
	}
	ms.gpu = g
	if needsRuntime(ms.models) {
		lib, err := libraryPath(ms.flags.ORTLib, getenv)
		if err != nil {
			return err
		}
		ms.libPath = lib
	}
	if err := ms.checkStages(); err != nil {
		return err
	}
	if ms.flags.MaxMemory != "" && !needsRuntime(ms.models) {
		return errkind.Input(errors.New("--max-memory caps local models' workers; an endpoint's memory is its server's"))
	}
	remoteModels := slices.ContainsFunc(ms.models, func(m model) bool { return m.URL != "" })
	if !remoteModels {
		if ms.flags.Rate > 0 {
			return errkind.Input(errors.New("--rate drives endpoints: give --production-url / --candidate-url (or --url)"))
		}
		if ms.flags.RateSweep != "" {
			return errkind.Input(errors.New("--rate-sweep drives endpoints: give --production-url / --candidate-url (or --url)"))
		}
		if len(ms.flags.endpointSet) > 0 {
			return errkind.Input(fmt.Errorf("--%s applies to endpoints: give --production-url / --candidate-url (or --url), or leave it out for local models", ms.flags.endpointSet[0]))
		}
		return nil
	}
	r, err := ms.flags.endpointFlags.validate(getenv, readFileOS)
	if err != nil {
		return err
	}
	ms.remote = r
	ms.plan.Rate, ms.plan.Arrival = r.flags.Rate, r.arrival
	return nil
}

// redact is the scrubber for everything this measurement reports.
func (ms *measurement) redact() redactor {
	if ms.remote == nil {
		return nil
	}
	return ms.remote.secrets
}

// judgeFunc judges a result at a look of the measurement, setting its
// checks and verdict, and reports whether every check is decided.
type judgeFunc func(res *result.Result, look, looks int) (decided bool, err error)

// measure loads the models, binds the dataset and runs the plan, judging at
// each look. When the run fails part-way, the partial result is returned
// together with the error.
//
// Nothing secret leaves it: progress lines, the result and the error are
// scrubbed of every header value an endpoint was given.
func (ms *measurement) measure(ctx context.Context, e *env, logf bench.Logf, judge judgeFunc) (*result.Result, error) {
	// The display goes before the caller writes the report.
	defer ms.show.finish()
	red := ms.redact()
	res, err := ms.measureRaw(ctx, e, red.logf(logf), judge)
	red.result(res)
	return res, red.err(err)
}

func (ms *measurement) measureRaw(ctx context.Context, e *env, logf bench.Logf, judge judgeFunc) (*result.Result, error) {
	res := ms.newResult()
	s, err := ms.open(ctx, e, logf, res)
	if err != nil {
		if len(res.Targets) > 0 {
			// A target failed to start: the report says so.
			return res, err
		}
		return nil, err
	}
	defer s.close()
	// Output names that do not pair up, or declared output shapes that
	// differ, are bad input: say so before measuring anything.
	if err := ms.parity.checkOutputs(s.targets); err != nil {
		return nil, err
	}
	if len(ms.stages) > 0 {
		res, err = ms.sweep(ctx, s, logf, judge, res)
	} else {
		res, err = ms.runStage(ctx, s, logf, judge, res)
	}
	// Parity runs after the measured pass, so it never touches timing.
	res, err = ms.applyParity(ctx, s, logf, res, err)
	// So does the profiled pass.
	return ms.applyProfile(ctx, s, logf, res, err)
}

// newResult is the document's head: the tool, the machine and the
// configuration as used.
func (ms *measurement) newResult() *result.Result {
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
		IntraThreads:      f.IntraOpThreads,
		InterThreads:      f.InterOpThreads,
		GraphOptimization: f.GraphOptimization,
	}
	if needsRuntime(ms.models) {
		// Endpoints run where their servers put them: the device is a
		// local model's only.
		res.Config.Device = ms.gpu.device.String()
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
	if ms.remote != nil {
		res.Config.Protocol = ms.remote.flags.Protocol
		for _, h := range ms.remote.headers {
			res.Config.Headers = append(res.Config.Headers, h.Name)
		}
		if ms.plan.Rate > 0 {
			res.Config.Rate = ms.plan.Rate
			res.Config.Arrival = ms.remote.flags.Arrival
		}
	}
	for _, st := range ms.stages {
		st.record(&res.Config, ms)
	}
	if ms.remote != nil && (res.Config.Rate > 0 || len(res.Config.RateSweep) > 0) {
		// Reports state the threshold beside the late starts they count.
		res.Config.LateStartThresholdNS = int64(bench.LateThreshold)
	}
	return res
}

// session is what a measurement loaded: the dataset, the started targets
// and their bindings. A sweep measures every stage on one session, so the
// models load once.
type session struct {
	ds       *loader.Dataset
	targets  []bench.Target
	bindings []*loader.Binding
	src      *loader.Source
	srcOpts  loader.SourceOptions
	// nvml is open when a GPU is watched through it; gpu samples the
	// watched targets (nil when none).
	nvml gpuLibrary
	gpu  *bench.GPUMonitor
}

func (s *session) close() {
	s.gpu.Stop()
	if s.nvml != nil {
		s.nvml.Close()
	}
	if s.src != nil {
		s.src.Close()
	}
	for _, t := range s.targets {
		t.Close()
	}
	s.ds.Close()
}

// source is the batch source for these options, from the first batch.
func (s *session) source(opts loader.SourceOptions) (*loader.Source, error) {
	if s.src != nil && s.srcOpts == opts {
		if err := s.src.Rewind(); err != nil {
			return nil, err
		}
		return s.src, nil
	}
	if s.src != nil {
		s.src.Close()
		s.src = nil
	}
	src, err := loader.NewSource(s.ds, s.bindings, opts)
	if err != nil {
		return nil, err
	}
	s.src, s.srcOpts = src, opts
	return src, nil
}

// open loads the dataset and the models and binds one to the other. When a
// model fails to start as a run failure, res gets the targets with the
// failure and the error is returned.
func (ms *measurement) open(ctx context.Context, e *env, logf bench.Logf, res *result.Result) (_ *session, err error) {
	// GPU problems are bad input, said before anything loads.
	var nvml gpuLibrary
	if ms.gpu.needsNVML(ms.models) {
		var nvmlErr error
		nvml, nvmlErr = e.openGPU()
		if err := checkDevice(ms.gpu.device, ms.libPath, nvml, nvmlErr, e.Getenv("CUDA_VISIBLE_DEVICES")); err != nil {
			if nvml != nil {
				nvml.Close()
			}
			return nil, err
		}
		if nvmlErr != nil {
			return nil, errkind.Input(fmt.Errorf("--server-pid: %w", nvmlErr))
		}
	}
	ds, err := loader.Open(ms.flags.Dataset, loader.ReadOptions{})
	if err != nil {
		if nvml != nil {
			nvml.Close()
		}
		return nil, err
	}
	s := &session{ds: ds, nvml: nvml}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	res.Config.DatasetRows = ds.NumRows()
	// The fingerprint hashes the file's bytes: one sequential read, cheap
	// next to the run, and exact (a re-encoded copy of the same rows hashes
	// differently, which compare then reports as a different test set).
	sum, err := fileSHA256(ms.flags.Dataset)
	if err != nil {
		return nil, errkind.Input(err)
	}
	res.TestSet = &result.TestSet{Rows: ms.flags.rowsUsed(ds), FileRows: ds.NumRows(), SHA256: sum}

	for i, m := range ms.models {
		logf("loading %s model %s", m.Role, m.where())
		ms.show.loading(i, len(ms.models))
		t, err := ms.start(ctx, e, m, ds)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			err = fmt.Errorf("%s: %w", m.label(), err)
			if errkind.Of(err) == errkind.KindRun {
				// An endpoint that never became ready, a worker that died
				// while loading: the run failed, and the report says so.
				res.FinishedAt = time.Now().UTC()
				for _, other := range ms.models[:i+1] {
					ft := result.Target{Role: other.Role, Name: other.where(), Model: other.where(),
						Rounds: []result.Round{}, Errors: result.Errors{ByKind: map[string]int64{}}}
					if other.Role == m.Role {
						ft.Failed = err.Error()
					}
					res.Targets = append(res.Targets, ft)
				}
			}
			return nil, err
		}
		s.targets = append(s.targets, t)
		if v := t.Info().ORTVersion; v != "" {
			res.Machine.ORTVersion = v
		}
	}

	if s.gpu, err = ms.gpuWatches(e, s.nvml, s.targets, res); err != nil {
		return nil, err
	}
	s.gpu.Start()

	var specs [][]loader.InputSpec
	for _, t := range s.targets {
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
	for i, m := range ms.models {
		b, err := loader.NewBinding(ds, specs[i], loader.BindOptions{
			InputMap: m.InputMap,
			Fills:    ms.fills,
			PadValue: ms.flags.PadValue,
			Nulls:    ms.flags.Nulls.policy,
		})
		if err != nil {
			name := filepath.Base(m.Path)
			if m.URL != "" {
				name = m.where()
			}
			return nil, fmt.Errorf("%s %s: %w", m.label(), name, err)
		}
		s.bindings = append(s.bindings, b)
	}
	return s, nil
}

// runStage runs the plan on an open session, judging at each look, and
// fills res. It returns nil when nothing could be measured.
func (ms *measurement) runStage(ctx context.Context, s *session, logf bench.Logf, judge judgeFunc, res *result.Result) (*result.Result, error) {
	f := ms.flags
	src, err := s.source(loader.SourceOptions{
		BatchSize: f.BatchSize,
		Rows:      f.Rows,
		Shuffle:   f.shuffle,
		Seed:      f.ShuffleSeed,
	})
	if err != nil {
		return nil, err
	}
	look := func(m *bench.Measurement, look, looks int) (bool, error) {
		if err := ms.fillTargets(res, m, s.gpu); err != nil {
			return false, err
		}
		decided, err := judge(res, look, looks)
		if err == nil {
			ms.show.judged(res.Checks, look, looks)
		}
		return decided, err
	}
	// Only the measured pass tells the GPU monitor when each target runs;
	// parity and profiling use the targets themselves.
	measured := make([]bench.Target, len(s.targets))
	for i, t := range s.targets {
		measured[i] = s.gpu.Wrap(i, t)
	}
	m, merr := bench.Measure(ctx, measured, src, ms.plan, bench.Hooks{Logf: logf, Look: look, Progress: ms.show.update},
		bench.WithSizeBuckets(f.SizeBuckets))
	res.FinishedAt = time.Now().UTC()
	res.ToolPeakRSSBytes = selfPeakRSS()
	if m == nil {
		return nil, merr
	}
	res.Interrupted = m.Interrupted
	if err := ms.fillTargets(res, m, s.gpu); err != nil {
		return nil, err
	}
	res.Warnings = appendNew(res.Warnings, s.gpu.Warnings()...)
	var names []string
	var usages []*result.GPUUsage
	for _, t := range res.Targets {
		names, usages = append(names, string(t.Role)), append(usages, t.GPU)
	}
	res.Warnings = appendNew(res.Warnings, bench.ClockWarnings(names, usages)...)
	res.Warnings = appendNew(res.Warnings, bench.LateStartWarnings(res.Targets, ms.plan.Rate)...)
	if merr != nil {
		res.Verdict = result.VerdictError
		res.Error = merr.Error()
	}
	return res, merr
}

// start loads one model: a worker process for a local file, a connection
// for an endpoint.
func (ms *measurement) start(ctx context.Context, e *env, m model, ds *loader.Dataset) (bench.Target, error) {
	f := ms.flags
	if m.URL != "" {
		return ms.remote.start(ctx, m, ms.endpointConcurrency(), ds)
	}
	worker, err := e.workerCommand()
	if err != nil {
		return nil, err
	}
	var maxMemory int64
	if f.MaxMemory != "" {
		if maxMemory, err = bench.ParseSize("max-memory", f.MaxMemory); err != nil {
			return nil, err
		}
	}
	return bench.StartONNX(ctx, bench.ONNXConfig{
		Name:              filepath.Base(m.Path),
		ModelPath:         m.Path,
		LibPath:           ms.libPath,
		Device:            ms.gpu.device.String(),
		ProviderOptions:   ms.gpu.providerOptions,
		IntraOpThreads:    f.IntraOpThreads,
		InterOpThreads:    f.InterOpThreads,
		GraphOptimization: f.GraphOptimization,
		MaxMemory:         maxMemory,
		CallTimeout:       f.WorkerTimeout,
		Worker:            worker,
	})
}

// endpointConcurrency is the most calls an endpoint will have in flight,
// which sizes its connections. An open loop without --concurrency runs as
// many callers as its rate needs (bench's default cap): 0 says so.
func (ms *measurement) endpointConcurrency() int {
	n := ms.maxConcurrency()
	if n <= 1 && (ms.plan.Rate > 0 || ms.flags.RateSweep != "") {
		return 0
	}
	return n
}

// fillTargets (re)writes the result's targets from the measurement so
// far, with their GPU use when gpu watches them.
func (ms *measurement) fillTargets(res *result.Result, m *bench.Measurement, gpu *bench.GPUMonitor) error {
	res.Targets = res.Targets[:0]
	usage := gpu.Usage()
	for i, tm := range m.Targets {
		rt, err := tm.ToResult(ms.models[i].Role)
		if err != nil {
			return errkind.Run(err)
		}
		if i < len(usage) {
			rt.GPU = usage[i]
		}
		rt.ModelVersion = tm.Info.ModelVersion
		res.Targets = append(res.Targets, rt)
	}
	if sc := m.Sizes; sc != nil {
		res.InputSizes = &result.InputSizes{Measure: sc.Measure, Buckets: sc.Buckets}
		if res.TestSet == nil {
			res.TestSet = &result.TestSet{}
		}
		res.TestSet.BatchSize = ms.flags.BatchSize
		res.TestSet.SizeP10, res.TestSet.SizeP50, res.TestSet.SizeP90 = sc.Quantile(0.1), sc.Quantile(0.5), sc.Quantile(0.9)
	}
	return nil
}

// appendNew appends the lines not in list yet.
func appendNew(list []string, lines ...string) []string {
	for _, l := range lines {
		if !slices.Contains(list, l) {
			list = append(list, l)
		}
	}
	return list
}

// libraryPath finds ONNX Runtime: --ort-lib, then $ONNXRUNTIME_LIB, then
// the per-user cache that `make ort` fills. A path the user gave must
// exist: it is an error naming it, never a quiet fall back to the next
// place (the user would measure another library than the one asked for).
// A library from the cache must be the one `make ort` verified: its
// SHA-256 is checked again before anything loads it, so a corrupted or
// swapped file is refused.
func libraryPath(flag string, getenv func(string) string) (string, error) {
	if flag != "" {
		return flag, checkGivenLibrary(flag, "--ort-lib")
	}
	if p := getenv(ortlib.EnvVar); p != "" {
		return p, checkGivenLibrary(p, ortlib.EnvVar)
	}
	p, err := ortlib.CachePath()
	if err == nil {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, checkPinned(p)
		}
	}
	return "", errkind.Input(fmt.Errorf("no ONNX Runtime library found: run `make ort` (fetches ONNX Runtime %s into %s), or point --ort-lib or %s at libonnxruntime.so of version 1.24.x",
		ortlib.Version, orUnknown(p), ortlib.EnvVar))
}

// checkGivenLibrary refuses a library path, given by from, that is not a
// file. The path is still returned beside the error, for `version` to show.
func checkGivenLibrary(path, from string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errkind.Input(fmt.Errorf("ONNX Runtime library %s: no such file (from %s)", path, from))
	case err != nil:
		return errkind.Input(fmt.Errorf("ONNX Runtime library %s (from %s): %w", path, from, err))
	case st.IsDir():
		return errkind.Input(fmt.Errorf("ONNX Runtime library %s is a directory, not a file (from %s)", path, from))
	}
	return nil
}

// checkPinned refuses a cached library whose SHA-256 is not the pinned one.
// A file already checked, unchanged since (same size and modification
// time), is not hashed again: tests run many commands in one process.
func checkPinned(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return errkind.Input(fmt.Errorf("ONNX Runtime library: %w", err))
	}
	key := fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano())
	if _, ok := pinnedOK.Load(key); ok {
		return nil
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return errkind.Input(fmt.Errorf("ONNX Runtime library: %w", err))
	}
	if sum != ortlib.SHA256 {
		return errkind.Input(fmt.Errorf("the cached ONNX Runtime at %s is not the one `make ort` verified (SHA-256 %s…, want %s…): delete it and run `make ort` again",
			path, sum[:12], ortlib.SHA256[:12]))
	}
	pinnedOK.Store(key, true)
	return nil
}

// pinnedOK remembers the libraries checkPinned passed.
var pinnedOK sync.Map

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

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
