//go:build cgo

package gpu

import (
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// memoryNotAvailable is NVML_VALUE_NOT_AVAILABLE as NVML puts it in
// ProcessInfo.UsedGpuMemory when it cannot attribute memory to a process
// (Windows WDDM, some containers and MIG set-ups).
const memoryNotAvailable = ^uint64(0)

// NVML is an opened NVML library.
type NVML struct {
	lib     nvml.Interface // nvml.New() in production, mock.Interface in tests
	handles []nvml.Device  // by NVML index
	infos   []DeviceInfo   // by NVML index, read once at open

	mu     sync.Mutex
	closed bool
}

// OpenNVML loads libnvidia-ml.so.1 and initialises NVML. When the library is
// missing, NVML cannot initialise, or it sees no device, the error wraps
// ErrUnavailable and says why in one line.
func OpenNVML() (*NVML, error) {
	// nvml.New only records the library name; dlopen happens in Init, which
	// returns ERROR_LIBRARY_NOT_FOUND rather than panicking when it fails.
	return openWith(nvml.New())
}

// openWith initialises lib and reads every device's facts once, so that
// Devices is cheap and consistent for the life of the NVML.
func openWith(lib nvml.Interface) (*NVML, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, initError(ret)
	}
	n := &NVML{lib: lib}
	count, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		lib.Shutdown()
		return nil, fmt.Errorf("%w: NVML cannot count devices: %s", ErrUnavailable, ret.Error())
	}
	if count <= 0 {
		lib.Shutdown()
		return nil, fmt.Errorf("%w: NVML sees no devices", ErrUnavailable)
	}

	// System-wide facts; unreadable ones stay empty rather than hiding the GPUs.
	driver, ret := lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		driver = ""
	}
	cuda := ""
	if v, ret := lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS && v > 0 {
		cuda = cudaVersionString(v)
	}

	for i := 0; i < count; i++ {
		h, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			// Without a handle the device cannot be sampled at all, and
			// skipping it would shift every later index.
			lib.Shutdown()
			return nil, fmt.Errorf("NVML device %d: %s", i, ret.Error())
		}
		info := DeviceInfo{Index: i, Driver: driver, CUDA: cuda}
		if s, ret := h.GetName(); ret == nvml.SUCCESS {
			info.Name = s
		}
		if s, ret := h.GetUUID(); ret == nvml.SUCCESS {
			info.UUID = s
		}
		if m, ret := h.GetMemoryInfo(); ret == nvml.SUCCESS {
			info.MemoryTotalBytes = clampInt64(m.Total)
		}
		if c, ret := h.GetMaxClockInfo(nvml.CLOCK_SM); ret == nvml.SUCCESS {
			info.SMClockMaxMHz = int(c)
		}
		n.handles = append(n.handles, h)
		n.infos = append(n.infos, info)
	}
	return n, nil
}

// initError explains an Init failure in one line a user can act on.
func initError(ret nvml.Return) error {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return fmt.Errorf("%w: NVML not found (libnvidia-ml.so.1): is the NVIDIA driver installed?", ErrUnavailable)
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return fmt.Errorf("%w: NVML found but the NVIDIA kernel driver is not loaded", ErrUnavailable)
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return fmt.Errorf("%w: NVML library and kernel driver versions differ (driver updated without a reboot?)", ErrUnavailable)
	case nvml.ERROR_NO_PERMISSION:
		return fmt.Errorf("%w: no permission to open the NVIDIA devices", ErrUnavailable)
	default:
		return fmt.Errorf("%w: NVML init failed: %s", ErrUnavailable, ret.Error())
	}
}

// cudaVersionString turns NVML's 1000*major + 10*minor into "major.minor".
func cudaVersionString(v int) string {
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// Devices returns every device, as read once at open. The slice is a copy.
func (n *NVML) Devices() []DeviceInfo {
	return append([]DeviceInfo(nil), n.infos...)
}

// Device returns the device with the given NVML index. Each call returns a new
// Device with its own process-utilisation timestamp.
func (n *NVML) Device(index int) (Device, error) {
	if index < 0 || index >= len(n.handles) {
		return nil, fmt.Errorf("NVML device %d: out of range, NVML sees %d device(s)", index, len(n.handles))
	}
	return &nvmlDevice{info: n.infos[index], dev: n.handles[index]}, nil
}

// FindProcess returns the index of the first device whose compute or graphics
// process list contains pid. A process whose memory NVML cannot attribute is
// still found: only its PID matters here.
func (n *NVML) FindProcess(pid int) (index int, ok bool) {
	for i, h := range n.handles {
		for _, get := range []func() ([]nvml.ProcessInfo, nvml.Return){h.GetComputeRunningProcesses, h.GetGraphicsRunningProcesses} {
			procs, ret := get()
			if ret != nvml.SUCCESS {
				continue
			}
			for _, p := range procs {
				if int(p.Pid) == pid {
					return i, true
				}
			}
		}
	}
	return 0, false
}

// Close shuts NVML down. Calling it again does nothing.
func (n *NVML) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	if ret := n.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("NVML shutdown: %s", ret.Error())
	}
	return nil
}

// nvmlDevice is one NVML device as a Device.
type nvmlDevice struct {
	info DeviceInfo
	dev  nvml.Device
	// lastSeen is the newest process-utilisation timestamp returned so far,
	// so the next Sample asks NVML only for newer samples. Zero on the first
	// call, which gets whatever NVML still buffers.
	lastSeen uint64
}

func (d *nvmlDevice) Info() DeviceInfo { return d.info }

// Sample reads the device. Only a device that is gone (lost, reset, NVML
// shut down) fails it; a reading that is unsupported here (MIG, vGPU) or
// momentarily unavailable leaves its field unknown.
func (d *nvmlDevice) Sample() (Sample, error) {
	s := Sample{UtilisationPct: -1, MemoryUsedBytes: -1}

	if u, ret := d.dev.GetUtilizationRates(); ret == nvml.SUCCESS {
		s.UtilisationPct = float64(u.Gpu)
	} else if err := d.fatal("utilisation", ret); err != nil {
		return Sample{}, err
	}
	if c, ret := d.dev.GetClockInfo(nvml.CLOCK_SM); ret == nvml.SUCCESS {
		s.SMClockMHz = int(c)
	} else if err := d.fatal("SM clock", ret); err != nil {
		return Sample{}, err
	}
	if m, ret := d.dev.GetMemoryInfo(); ret == nvml.SUCCESS {
		s.MemoryUsedBytes = clampInt64(m.Used)
	} else if err := d.fatal("memory", ret); err != nil {
		return Sample{}, err
	}

	pm, err := d.processMemory()
	if err != nil {
		return Sample{}, err
	}
	s.ProcessMemory = pm

	pu, err := d.processSMUtil()
	if err != nil {
		return Sample{}, err
	}
	s.ProcessSMUtil = pu
	return s, nil
}

// processMemory merges the compute and graphics process lists. One list being
// unsupported (graphics on a headless GPU) is treated as empty; only when
// neither can be read is the result nil.
func (d *nvmlDevice) processMemory() (map[int]int64, error) {
	compute, cret := d.dev.GetComputeRunningProcesses()
	if err := d.fatal("compute processes", cret); err != nil {
		return nil, err
	}
	graphics, gret := d.dev.GetGraphicsRunningProcesses()
	if err := d.fatal("graphics processes", gret); err != nil {
		return nil, err
	}
	if cret != nvml.SUCCESS && gret != nvml.SUCCESS {
		return nil, nil
	}
	m := map[int]int64{}
	for _, list := range [][]nvml.ProcessInfo{compute, graphics} {
		for _, p := range list {
			if p.UsedGpuMemory == memoryNotAvailable {
				continue
			}
			v := clampInt64(p.UsedGpuMemory)
			// A process using CUDA and graphics appears in both lists with
			// the same allocation, so take the larger rather than summing.
			if old, ok := m[int(p.Pid)]; !ok || v > old {
				m[int(p.Pid)] = v
			}
		}
	}
	return m, nil
}

// processSMUtil averages NVML's per-process samples newer than lastSeen and
// advances lastSeen past them.
func (d *nvmlDevice) processSMUtil() (map[int]float64, error) {
	samples, ret := d.dev.GetProcessUtilization(d.lastSeen)
	switch ret {
	case nvml.SUCCESS:
	case nvml.ERROR_NOT_FOUND:
		// Supported, but nothing ran since lastSeen.
		return map[int]float64{}, nil
	default:
		return nil, d.fatal("process utilisation", ret)
	}
	sum := map[int]float64{}
	cnt := map[int]int{}
	for _, s := range samples {
		if s.TimeStamp > d.lastSeen {
			d.lastSeen = s.TimeStamp
		}
		if s.SmUtil > 100 { // not a percentage: a driver sentinel
			continue
		}
		sum[int(s.Pid)] += float64(s.SmUtil)
		cnt[int(s.Pid)]++
	}
	for pid, c := range cnt {
		sum[pid] /= float64(c)
	}
	return sum, nil
}

// fatal returns an error when ret means the device can no longer be read at
// all, and nil for success or for a reading that merely is not available.
func (d *nvmlDevice) fatal(what string, ret nvml.Return) error {
	switch ret {
	case nvml.ERROR_GPU_IS_LOST, nvml.ERROR_UNINITIALIZED, nvml.ERROR_RESET_REQUIRED,
		nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_LIBRARY_NOT_FOUND:
		return fmt.Errorf("NVML device %d (%s): %s: %s", d.info.Index, d.info.Name, what, ret.Error())
	}
	return nil
}
