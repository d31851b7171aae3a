package gpu

import (
	"fmt"
	"strconv"
	"strings"
)

// CUDAOrdinalToNVML maps a CUDA device ordinal (what ONNX Runtime's device_id
// means) to an NVML index, honouring CUDA_VISIBLE_DEVICES, whose value is
// passed in ("" means unset: ordinals are NVML indices).
//
// The value is a comma list of GPU indices, GPU UUIDs or unique UUID prefixes
// ("GPU-8932f937"), or MIG identifiers. As in CUDA, the first invalid entry
// (unknown, ambiguous, out of range, repeated, "-1", "none") ends the list, so
// "-1" makes no GPU visible. devices must be in NVML index order, as
// NVML.Devices returns them.
//
// Integer entries are taken as NVML indices. CUDA numbers GPUs fastest first
// unless CUDA_DEVICE_ORDER=PCI_BUS_ID; on a machine with one GPU model the two
// orders agree, and that is the case this handles.
//
// A new-style MIG identifier (MIG-<uuid>) names a MIG instance whose parent
// GPU is not known from devices, so an ordinal that lands on one is an error;
// the legacy MIG-GPU-<uuid>/<gi>/<ci> form maps to its parent GPU.
func CUDAOrdinalToNVML(ordinal int, cudaVisibleDevices string, devices []DeviceInfo) (int, error) {
	if ordinal < 0 {
		return 0, fmt.Errorf("cuda:%d: a CUDA device ordinal cannot be negative", ordinal)
	}
	if cudaVisibleDevices == "" {
		if ordinal >= len(devices) {
			return 0, fmt.Errorf("cuda:%d: %s", ordinal, describeVisible(devices))
		}
		return devices[ordinal].Index, nil
	}

	visible, stop, why := parseVisible(cudaVisibleDevices, devices)
	if ordinal >= len(visible) {
		msg := fmt.Sprintf("cuda:%d: CUDA_VISIBLE_DEVICES=%s makes %s visible", ordinal, cudaVisibleDevices, countGPUs(len(visible)))
		// A lone non-identifier ("-1", "none") hides GPUs on purpose; any
		// other stop is worth explaining.
		if stop != "" && (why != notAnID || stop != strings.TrimSpace(cudaVisibleDevices)) {
			msg += fmt.Sprintf(" (CUDA stops at %q: %s)", stop, why)
		}
		return 0, fmt.Errorf("%s", msg)
	}
	v := visible[ordinal]
	if v.mig != "" {
		return 0, fmt.Errorf("cuda:%d: CUDA_VISIBLE_DEVICES entry %s is a MIG instance whose parent GPU cannot be told from its UUID", ordinal, v.mig)
	}
	return devices[v.pos].Index, nil
}

const notAnID = "not a GPU index or UUID"

// visibleGPU is one valid CUDA_VISIBLE_DEVICES entry: a position in devices,
// or a MIG instance that cannot be mapped.
type visibleGPU struct {
	pos int
	mig string
}

// parseVisible returns the entries CUDA would accept, then the first invalid
// entry ("" if none) and why it is invalid.
func parseVisible(value string, devices []DeviceInfo) ([]visibleGPU, string, string) {
	var out []visibleGPU
	seen := map[string]bool{}
	for _, raw := range strings.Split(value, ",") {
		e := strings.TrimSpace(raw)
		v, key, why := resolveEntry(e, devices)
		if why == "" && seen[key] {
			why = "repeated"
		}
		if why != "" {
			return out, e, why
		}
		seen[key] = true
		out = append(out, v)
	}
	return out, "", ""
}

// resolveEntry resolves one entry; key identifies the GPU for spotting
// repeats, and why is non-empty when the entry is invalid.
func resolveEntry(e string, devices []DeviceInfo) (v visibleGPU, key, why string) {
	switch {
	case isDigits(e):
		i, err := strconv.Atoi(e)
		if err != nil || i >= len(devices) {
			return v, "", fmt.Sprintf("there is no GPU %s among %d", e, len(devices))
		}
		return visibleGPU{pos: i}, strconv.Itoa(i), ""
	case strings.HasPrefix(e, "MIG-GPU-"):
		// Legacy form MIG-GPU-<parent uuid>/<gi>/<ci>.
		parent, _, _ := strings.Cut(strings.TrimPrefix(e, "MIG-"), "/")
		for i, d := range devices {
			if d.UUID != "" && strings.EqualFold(d.UUID, parent) {
				return visibleGPU{pos: i}, e, ""
			}
		}
		return v, "", "no GPU has that UUID"
	case strings.HasPrefix(e, "MIG-"):
		return visibleGPU{pos: -1, mig: e}, e, ""
	case strings.HasPrefix(e, "GPU-"):
		match := -1
		for i, d := range devices {
			if len(d.UUID) >= len(e) && strings.EqualFold(d.UUID[:len(e)], e) {
				if match >= 0 {
					return v, "", "more than one GPU's UUID starts so"
				}
				match = i
			}
		}
		if match < 0 {
			return v, "", "no GPU has that UUID"
		}
		return visibleGPU{pos: match}, strconv.Itoa(match), ""
	}
	return v, "", notAnID
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func countGPUs(n int) string {
	switch n {
	case 0:
		return "no GPU"
	case 1:
		return "1 GPU"
	}
	return fmt.Sprintf("%d GPUs", n)
}

// describeVisible says what is visible without CUDA_VISIBLE_DEVICES, naming
// the models so the user sees which GPUs they have.
func describeVisible(devices []DeviceInfo) string {
	if len(devices) == 0 {
		return "no GPU visible"
	}
	names := make([]string, len(devices))
	for i, d := range devices {
		names[i] = d.Name
	}
	return fmt.Sprintf("only %s visible (%s)", countGPUs(len(devices)), strings.Join(names, ", "))
}
