package main

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/internal/gpu"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

// gpuFlags say where local models run and which GPUs to watch.
type gpuFlags struct {
	Device          string
	ProviderOptions []string
	// ServerPIDs and ServerMetrics are "[role=]value": a plain value is
	// for every endpoint, production=… or candidate=… for one.
	ServerPIDs    []string
	ServerMetrics []string
}

func (f *gpuFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Device, "device", "cpu", "where local ONNX models run: cpu, cuda[:N] or tensorrt[:N] (needs the GPU build of ONNX Runtime: see --ort-lib)")
	fs.StringArrayVar(&f.ProviderOptions, "provider-option", nil, "CUDA/TensorRT execution provider option `key=value`, e.g. cudnn_conv_algo_search=HEURISTIC or gpu_mem_limit=4294967296 (repeatable)")
	fs.StringArrayVar(&f.ServerPIDs, "server-pid", nil, "an endpoint's server runs on this machine as this `PID`: sample its GPU memory and utilisation through NVML; production=PID or candidate=PID for one endpoint (repeatable)")
	fs.StringArrayVar(&f.ServerMetrics, "server-metrics", nil, "sample GPU memory and utilisation from the server's Prometheus metrics at this `URL` (Triton's :8002/metrics, DCGM exporter); production=URL or candidate=URL for one endpoint (repeatable)")
}

// gpuConfig is the validated form of gpuFlags.
type gpuConfig struct {
	device          bench.Device
	providerOptions map[string]string
	// serverPID and serverMetrics are by role; "" is every endpoint.
	serverPID     map[result.Role]int
	serverMetrics map[result.Role]string
}

// validate parses the GPU flags against the models they apply to.
func (f gpuFlags) validate(models []model) (*gpuConfig, error) {
	dev, err := bench.ParseDevice(f.Device)
	if err != nil {
		return nil, err
	}
	opts, err := bench.ParseProviderOptions(f.ProviderOptions)
	if err != nil {
		return nil, err
	}
	c := &gpuConfig{device: dev, providerOptions: opts, serverPID: map[result.Role]int{}, serverMetrics: map[result.Role]string{}}
	local := slices.ContainsFunc(models, func(m model) bool { return m.URL == "" })
	if dev.GPU() && !local {
		return nil, errkind.Input(fmt.Errorf("--device %s places local ONNX models; an endpoint runs where its server puts it (watch its GPU with --server-pid or --server-metrics)", dev))
	}
	if len(opts) > 0 && !dev.GPU() {
		return nil, errkind.Input(errors.New("--provider-option configures the GPU execution provider: give --device cuda or tensorrt"))
	}
	roles := func(flag, v string) (result.Role, string, error) {
		if k, rest, ok := strings.Cut(v, "="); ok && !strings.Contains(k, "/") {
			role := result.Role(strings.TrimSpace(k))
			i := slices.IndexFunc(models, func(m model) bool { return m.Role == role })
			if i < 0 {
				return "", "", errkind.Input(fmt.Errorf("--%s %q: no %s model in this run", flag, redactURLArg(v), k))
			}
			if models[i].URL == "" {
				return "", "", errkind.Input(fmt.Errorf("--%s %q: the %s model is a local file; its worker's GPU use is watched already with --device cuda", flag, redactURLArg(v), k))
			}
			return role, strings.TrimSpace(rest), nil
		}
		if !slices.ContainsFunc(models, func(m model) bool { return m.URL != "" }) {
			return "", "", errkind.Input(fmt.Errorf("--%s watches an endpoint's server: give --production-url / --candidate-url (or --url)", flag))
		}
		return "", strings.TrimSpace(v), nil
	}
	for _, v := range f.ServerPIDs {
		role, s, err := roles("server-pid", v)
		if err != nil {
			return nil, err
		}
		pid, err := strconv.Atoi(s)
		if err != nil || pid <= 0 {
			return nil, errkind.Input(fmt.Errorf("--server-pid %q: want a process ID, or production=PID / candidate=PID", v))
		}
		if _, dup := c.serverPID[role]; dup {
			return nil, errkind.Input(fmt.Errorf("--server-pid given twice for %s", roleOrEvery(role)))
		}
		c.serverPID[role] = pid
	}
	for _, v := range f.ServerMetrics {
		role, u, err := roles("server-metrics", v)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, errkind.Input(fmt.Errorf("--server-metrics %q: want an http(s) URL, e.g. http://localhost:8002/metrics", redactURLArg(v)))
		}
		if _, dup := c.serverMetrics[role]; dup {
			return nil, errkind.Input(fmt.Errorf("--server-metrics given twice for %s", roleOrEvery(role)))
		}
		c.serverMetrics[role] = u
	}
	for _, m := range models {
		if m.URL == "" {
			continue
		}
		if _, pid := c.pidFor(m.Role); pid {
			if _, met := c.metricsFor(m.Role); met {
				return nil, errkind.Input(fmt.Errorf("the %s endpoint has both --server-pid and --server-metrics: give one", m.Role))
			}
		}
	}
	return c, nil
}

func roleOrEvery(r result.Role) string {
	if r == "" {
		return "every endpoint"
	}
	return string(r)
}

func redactURLArg(v string) string {
	if k, rest, ok := strings.Cut(v, "="); ok && !strings.Contains(k, "/") {
		return k + "=" + bench.RedactURL(rest)
	}
	return bench.RedactURL(v)
}

func (c *gpuConfig) pidFor(r result.Role) (int, bool) {
	if pid, ok := c.serverPID[r]; ok {
		return pid, true
	}
	pid, ok := c.serverPID[""]
	return pid, ok
}

func (c *gpuConfig) metricsFor(r result.Role) (string, bool) {
	if u, ok := c.serverMetrics[r]; ok {
		return u, true
	}
	u, ok := c.serverMetrics[""]
	return u, ok
}

// watched reports whether the model's GPU use will be measured.
func (c *gpuConfig) watched(m model) bool {
	if m.URL == "" {
		return c.device.GPU()
	}
	_, pid := c.pidFor(m.Role)
	_, met := c.metricsFor(m.Role)
	return pid || met
}

// needsNVML reports whether the run reads NVML: a local model on a GPU, or
// a server given by PID.
func (c *gpuConfig) needsNVML(models []model) bool {
	return slices.ContainsFunc(models, func(m model) bool {
		if m.URL == "" {
			return c.device.GPU()
		}
		_, pid := c.pidFor(m.Role)
		return pid
	})
}

// checkGPUChecks refuses a GPU memory check that nothing would measure.
func (c *gpuConfig) checkGPUChecks(given map[string]string, models []model) error {
	if _, ok := given["max-gpu-memory-increase"]; !ok {
		return nil
	}
	for _, m := range models {
		if !c.watched(m) {
			how := "run it with --device cuda"
			if m.URL != "" {
				how = "give --server-pid or --server-metrics for it"
			}
			return errkind.Input(fmt.Errorf("--max-gpu-memory-increase: the %s model's GPU memory is not measured; %s", m.Role, how))
		}
	}
	return nil
}

// gpuLibrary is the part of NVML a run uses; tests give a fake.
type gpuLibrary interface {
	Devices() []gpu.DeviceInfo
	Device(index int) (gpu.Device, error)
	FindProcess(pid int) (int, bool)
	Close() error
}

func openNVML() (gpuLibrary, error) {
	n, err := gpu.OpenNVML()
	if err != nil {
		return nil, err
	}
	return n, nil
}

// checkDevice fails early, with what to do, when a GPU device cannot work
// here: the ONNX Runtime library is a CPU-only build, or no GPU is
// visible. Both are said at once, so one fix is not followed by another
// error.
func checkDevice(dev bench.Device, libPath string, lib gpuLibrary, nvmlErr error, cudaVisible string) error {
	if !dev.GPU() {
		return nil
	}
	var problems []string
	if missing := bench.ProviderLibMissing(dev, libPath); missing != "" {
		problems = append(problems, fmt.Sprintf("the ONNX Runtime at %s is a CPU-only build (no %s beside it)", libPath, missing))
	}
	if nvmlErr != nil {
		problems = append(problems, firstLine(nvmlErr.Error()))
	} else if _, err := gpu.CUDAOrdinalToNVML(dev.Ordinal, cudaVisible, lib.Devices()); err != nil {
		problems = append(problems, firstLine(err.Error()))
	}
	if len(problems) == 0 {
		return nil
	}
	return errkind.Input(fmt.Errorf("--device %s: %s; %s", dev, strings.Join(problems, ", and "), bench.GPUBuildHint(ortVersionOf(libPath))))
}

// ortVersionOf guesses the ONNX Runtime version from a library path such
// as …/libonnxruntime.so.1.24.3 or the cache's …/1.24.3/libonnxruntime.so.1;
// "" when the path does not say.
func ortVersionOf(libPath string) string {
	if v := versionInPath(libPath); v != "" {
		return v
	}
	// A path that does not say (…/libonnxruntime.so.1): infergate needs
	// the 1.24 C API, so the pinned version is the one to get.
	return ortlib.Version
}

func versionInPath(libPath string) string {
	for _, part := range slices.Backward(strings.Split(libPath, "/")) {
		v := strings.TrimPrefix(part, "libonnxruntime.so.")
		if strings.Count(v, ".") == 2 && v[0] >= '0' && v[0] <= '9' {
			return v
		}
	}
	return ""
}

// gpuWatches builds the monitor of a session's targets, and records the
// GPUs in the result's machine. It returns nil when nothing is watched.
func (ms *measurement) gpuWatches(e *env, lib gpuLibrary, targets []bench.Target, res *result.Result) (*bench.GPUMonitor, error) {
	c := ms.gpu
	watches := make([]*bench.GPUWatch, len(ms.models))
	any := false
	seen := map[int]bool{}
	seenUUID := map[string]bool{}
	addDevice := func(info gpu.DeviceInfo) {
		// Several metrics endpoints may report the same GPU: list it once.
		if (info.Index >= 0 && seen[info.Index]) || (info.UUID != "" && seenUUID[info.UUID]) {
			return
		}
		seen[info.Index], seenUUID[info.UUID] = true, info.UUID != ""
		res.Machine.GPUs = append(res.Machine.GPUs, result.GPUDevice{
			Index: info.Index, UUID: info.UUID, Name: info.Name, MemoryTotalBytes: info.MemoryTotalBytes,
			Driver: info.Driver, CUDA: info.CUDA, SMClockMaxMHz: info.SMClockMaxMHz,
		})
	}
	client := &http.Client{Timeout: 5 * time.Second}
	metricsDevices := map[string]gpu.Device{}
	for i, m := range ms.models {
		var w *bench.GPUWatch
		switch {
		case m.URL == "" && c.device.GPU():
			idx, err := gpu.CUDAOrdinalToNVML(c.device.Ordinal, e.Getenv("CUDA_VISIBLE_DEVICES"), lib.Devices())
			if err != nil {
				return nil, errkind.Input(fmt.Errorf("--device %s: %w", c.device, err))
			}
			d, err := lib.Device(idx)
			if err != nil {
				return nil, errkind.Run(fmt.Errorf("GPU %d: %w", idx, err))
			}
			w = &bench.GPUWatch{Device: d, DeviceIndex: idx, PID: targets[i].Info().PID}
		case m.URL != "":
			if pid, ok := c.pidFor(m.Role); ok {
				idx, found := lib.FindProcess(pid)
				if !found {
					return nil, errkind.Input(fmt.Errorf("--server-pid %d: NVML lists no GPU memory of that process on any GPU (is it the server's PID on this machine? inside a container NVML may list host PIDs)", pid))
				}
				d, err := lib.Device(idx)
				if err != nil {
					return nil, errkind.Run(fmt.Errorf("GPU %d: %w", idx, err))
				}
				w = &bench.GPUWatch{Device: d, DeviceIndex: idx, PID: pid}
			} else if u, ok := c.metricsFor(m.Role); ok {
				d := metricsDevices[u]
				if d == nil {
					d = gpu.NewMetricsDevice(client, u)
					metricsDevices[u] = d
				}
				// A first scrape now: a wrong URL is bad input, said before
				// anything is measured.
				if _, err := d.Sample(); err != nil {
					return nil, errkind.Input(fmt.Errorf("--server-metrics: %w", err))
				}
				w = &bench.GPUWatch{Device: d, DeviceIndex: -1, Interval: bench.DefaultMetricsInterval}
			}
		}
		if w != nil {
			addDevice(w.Device.Info())
			watches[i] = w
			any = true
		}
	}
	if !any {
		return nil, nil
	}
	var names []string
	for _, g := range res.Machine.GPUs {
		if !slices.Contains(names, g.Name) {
			names = append(names, g.Name)
		}
	}
	res.Machine.GPU = strings.Join(names, ", ")
	return bench.NewGPUMonitor(watches), nil
}
