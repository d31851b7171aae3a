package bench

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/internal/errkind"
)

// Device kinds a local model can run on.
const (
	DeviceCPU      = "cpu"
	DeviceCUDA     = "cuda"
	DeviceTensorRT = "tensorrt"
)

// Device is where a local model runs: ONNX Runtime's CPU provider, or its
// CUDA or TensorRT provider on CUDA device Ordinal.
type Device struct {
	Kind    string
	Ordinal int
}

// GPU reports whether the device is a GPU.
func (d Device) GPU() bool { return d.Kind == DeviceCUDA || d.Kind == DeviceTensorRT }

func (d Device) String() string {
	if !d.GPU() {
		return DeviceCPU
	}
	return d.Kind + ":" + strconv.Itoa(d.Ordinal)
}

// ParseDevice reads --device: cpu, cuda, cuda:N, tensorrt, tensorrt:N.
func ParseDevice(s string) (Device, error) {
	kind, ord, hasOrd := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	switch kind {
	case "", DeviceCPU:
		if hasOrd {
			return Device{}, errkind.Input(fmt.Errorf("--device %q: cpu takes no device number", s))
		}
		return Device{Kind: DeviceCPU}, nil
	case DeviceCUDA, DeviceTensorRT, "trt":
		if kind == "trt" {
			kind = DeviceTensorRT
		}
		d := Device{Kind: kind}
		if hasOrd {
			n, err := strconv.Atoi(ord)
			if err != nil || n < 0 {
				return Device{}, errkind.Input(fmt.Errorf("--device %q: the device number must be a whole number of 0 or more, as in cuda:1", s))
			}
			d.Ordinal = n
		}
		return d, nil
	}
	return Device{}, errkind.Input(fmt.Errorf("--device %q: want cpu, cuda[:N] or tensorrt[:N]", s))
}

// ParseProviderOptions reads --provider-option k=v values into a map. The
// device number comes from --device, so device_id is refused here.
func ParseProviderOptions(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, errkind.Input(fmt.Errorf("--provider-option %q: want key=value, e.g. cudnn_conv_algo_search=HEURISTIC", kv))
		}
		if k == "device_id" {
			return nil, errkind.Input(fmt.Errorf("--provider-option %q: the device comes from --device cuda:N", kv))
		}
		if _, dup := out[k]; dup {
			return nil, errkind.Input(fmt.Errorf("--provider-option %q given twice", k))
		}
		out[k] = v
	}
	return out, nil
}

// cudaProviderLib is the CUDA provider's plugin that GPU builds of ONNX
// Runtime ship beside the main library (TensorRT's is its own file).
const (
	cudaProviderLib     = "libonnxruntime_providers_cuda.so"
	tensorRTProviderLib = "libonnxruntime_providers_tensorrt.so"
)

// ProviderLibMissing reports, for a GPU device, the provider plugin that
// the ONNX Runtime library at libPath lacks beside it (a CPU-only build);
// "" when present or when the device is the CPU. ONNX Runtime would fail
// the same way when the session is made; checking first lets the message
// come before any model loads.
func ProviderLibMissing(d Device, libPath string) string {
	if !d.GPU() {
		return ""
	}
	need := []string{cudaProviderLib}
	if d.Kind == DeviceTensorRT {
		need = append(need, tensorRTProviderLib)
	}
	dir := filepath.Dir(libPath)
	for _, n := range need {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			return n
		}
	}
	return ""
}

// GPUBuildHint says which ONNX Runtime to get for --device cuda/tensorrt.
func GPUBuildHint(ortVersion string) string {
	if ortVersion == "" {
		ortVersion = "1.24.x"
	}
	return fmt.Sprintf("get the GPU build of ONNX Runtime %[1]s (release asset onnxruntime-linux-x64-gpu-%[1]s.tgz, which needs CUDA 12.x and cuDNN 9 on the library path; TensorRT 10 too for --device tensorrt) and point --ort-lib at its lib/libonnxruntime.so.%[1]s", ortVersion)
}

// appendProvider registers the device's execution provider on opts; the
// CPU needs none. For TensorRT the CUDA provider is registered after it, so
// that nodes TensorRT cannot take still run on the GPU.
func appendProvider(opts *ort.SessionOptions, d Device, options map[string]string) error {
	if !d.GPU() {
		if len(options) > 0 {
			return fmt.Errorf("--provider-option applies to --device cuda or tensorrt, not cpu")
		}
		return nil
	}
	withID := maps.Clone(options)
	if withID == nil {
		withID = map[string]string{}
	}
	withID["device_id"] = strconv.Itoa(d.Ordinal)
	if d.Kind == DeviceTensorRT {
		trt, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return providerErr(d, err)
		}
		defer trt.Destroy()
		if err := trt.Update(withID); err != nil {
			return providerOptionErr(d, withID, err)
		}
		if err := opts.AppendExecutionProviderTensorRT(trt); err != nil {
			return providerErr(d, err)
		}
		// The fallback CUDA provider gets the device only: TensorRT's
		// options mean nothing to it.
		withID = map[string]string{"device_id": withID["device_id"]}
	}
	cuda, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return providerErr(d, err)
	}
	defer cuda.Destroy()
	if err := cuda.Update(withID); err != nil {
		return providerOptionErr(d, withID, err)
	}
	if err := opts.AppendExecutionProviderCUDA(cuda); err != nil {
		return providerErr(d, err)
	}
	return nil
}

func providerErr(d Device, err error) error {
	msg := oneLine(err)
	// ONNX Runtime prefixes the cause with its source location and status:
	// "/onnxruntime_src/…cc:1952 … [ONNXRuntimeError] : 1 : FAIL : cause".
	if i := strings.LastIndex(msg, " : FAIL : "); i >= 0 {
		msg = msg[i+len(" : FAIL : "):]
	}
	return fmt.Errorf("--device %s: ONNX Runtime cannot start its %s execution provider (%s); %s",
		d, providerName(d), msg, GPUBuildHint(ort.GetVersion()))
}

// providerOptionErr explains a failed options update. A CPU-only build
// fails there already, loading the provider's plugin: that is the build's
// fault, not the options'.
func providerOptionErr(d Device, options map[string]string, err error) error {
	if m := err.Error(); strings.Contains(m, "Failed to load") || strings.Contains(m, "cannot open shared object") {
		return providerErr(d, err)
	}
	keys := slices.Sorted(maps.Keys(options))
	return fmt.Errorf("--device %s: ONNX Runtime refused the provider options %s: %s", d, strings.Join(keys, ", "), oneLine(err))
}

func providerName(d Device) string {
	if d.Kind == DeviceTensorRT {
		return "TensorRT"
	}
	return "CUDA"
}

// shapeKey identifies a batch's input shapes: a GPU provider tunes (cuDNN's
// algorithm search) and allocates per shape, so the first call of a shape
// is not a steady-state call.
func shapeKey(b *ortBatch) string {
	var sb strings.Builder
	for _, v := range b.values {
		fmt.Fprint(&sb, v.GetShape(), ";")
	}
	return sb.String()
}
