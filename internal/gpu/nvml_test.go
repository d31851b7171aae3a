//go:build cgo

package gpu

import (
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// newMockDevice returns a healthy H100 whose every reading the test may
// override afterwards. The mock panics on any method without a Func, which
// also proves the code calls nothing unexpected.
func newMockDevice(uuid string) *mock.Device {
	return &mock.Device{
		GetNameFunc:         func() (string, nvml.Return) { return "NVIDIA H100 80GB HBM3", nvml.SUCCESS },
		GetUUIDFunc:         func() (string, nvml.Return) { return uuid, nvml.SUCCESS },
		GetMemoryInfoFunc:   func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: 80 << 30, Used: 3 << 30}, nvml.SUCCESS },
		GetMaxClockInfoFunc: func(nvml.ClockType) (uint32, nvml.Return) { return 1980, nvml.SUCCESS },
		GetClockInfoFunc: func(c nvml.ClockType) (uint32, nvml.Return) {
			if c != nvml.CLOCK_SM {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return 1755, nvml.SUCCESS
		},
		GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{Gpu: 42, Memory: 7}, nvml.SUCCESS },
		GetComputeRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
			return nil, nvml.SUCCESS
		},
		GetGraphicsRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
			return nil, nvml.SUCCESS
		},
		GetProcessUtilizationFunc: func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
			return nil, nvml.ERROR_NOT_FOUND
		},
	}
}

func newMockLib(devs ...*mock.Device) *mock.Interface {
	return &mock.Interface{
		InitFunc:                   func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:               func() nvml.Return { return nvml.SUCCESS },
		DeviceGetCountFunc:         func() (int, nvml.Return) { return len(devs), nvml.SUCCESS },
		SystemGetDriverVersionFunc: func() (string, nvml.Return) { return "580.159.04", nvml.SUCCESS },
		SystemGetCudaDriverVersionFunc: func() (int, nvml.Return) {
			return 13000, nvml.SUCCESS
		},
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(devs) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return devs[i], nvml.SUCCESS
		},
	}
}

func mustOpen(t *testing.T, lib nvml.Interface) *NVML {
	t.Helper()
	n, err := openWith(lib)
	if err != nil {
		t.Fatalf("openWith: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func mustSample(t *testing.T, n *NVML, index int) Sample {
	t.Helper()
	d, err := n.Device(index)
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.Sample()
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	return s
}

func TestOpenNVMLWithoutDriver(t *testing.T) {
	probe := nvml.New()
	if probe.Init() == nvml.SUCCESS {
		probe.Shutdown()
		t.Skip("a real libnvidia-ml.so.1 is loadable here")
	}
	n, err := OpenNVML()
	if err == nil {
		n.Close()
		t.Fatal("OpenNVML succeeded without a driver")
	}
	if n != nil {
		t.Errorf("OpenNVML returned a non-nil *NVML with its error")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("error %q does not wrap ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "libnvidia-ml.so.1") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error should name the library on one line, got %q", err)
	}
}

func TestOpenWithFailures(t *testing.T) {
	for _, tc := range []struct {
		name        string
		lib         func() *mock.Interface
		unavailable bool
		want        string
		shutdown    int
	}{
		{"library missing", func() *mock.Interface {
			l := newMockLib(newMockDevice("GPU-a"))
			l.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
			return l
		}, true, "is the NVIDIA driver installed?", 0},
		{"driver not loaded", func() *mock.Interface {
			l := newMockLib(newMockDevice("GPU-a"))
			l.InitFunc = func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }
			return l
		}, true, "kernel driver is not loaded", 0},
		{"no devices", func() *mock.Interface { return newMockLib() }, true, "no devices", 1},
		{"count fails", func() *mock.Interface {
			l := newMockLib(newMockDevice("GPU-a"))
			l.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
			return l
		}, true, "ERROR_UNKNOWN", 1},
		{"handle fails", func() *mock.Interface {
			l := newMockLib(newMockDevice("GPU-a"))
			l.DeviceGetHandleByIndexFunc = func(int) (nvml.Device, nvml.Return) { return nil, nvml.ERROR_GPU_IS_LOST }
			return l
		}, false, "NVML device 0: ERROR_GPU_IS_LOST", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib := tc.lib()
			n, err := openWith(lib)
			if err == nil || n != nil {
				t.Fatalf("openWith = %v, %v; want an error", n, err)
			}
			if errors.Is(err, ErrUnavailable) != tc.unavailable {
				t.Errorf("errors.Is(%q, ErrUnavailable) = %v", err, !tc.unavailable)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if got := len(lib.ShutdownCalls()); got != tc.shutdown {
				t.Errorf("Shutdown called %d times, want %d", got, tc.shutdown)
			}
		})
	}
}

func TestDevices(t *testing.T) {
	d0 := newMockDevice("GPU-aaaa")
	d1 := newMockDevice("GPU-bbbb")
	d1.GetNameFunc = func() (string, nvml.Return) { return "NVIDIA A10", nvml.SUCCESS }
	d1.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{Total: 24 << 30}, nvml.SUCCESS }
	// An unsupported max clock (vGPU) leaves the field zero, not the open failing.
	d1.GetMaxClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	lib := newMockLib(d0, d1)
	lib.SystemGetCudaDriverVersionFunc = func() (int, nvml.Return) { return 12040, nvml.SUCCESS }
	n := mustOpen(t, lib)

	want := []DeviceInfo{
		{Index: 0, UUID: "GPU-aaaa", Name: "NVIDIA H100 80GB HBM3", MemoryTotalBytes: 80 << 30, Driver: "580.159.04", CUDA: "12.4", SMClockMaxMHz: 1980},
		{Index: 1, UUID: "GPU-bbbb", Name: "NVIDIA A10", MemoryTotalBytes: 24 << 30, Driver: "580.159.04", CUDA: "12.4"},
	}
	if got := n.Devices(); !reflect.DeepEqual(got, want) {
		t.Errorf("Devices() =\n%+v\nwant\n%+v", got, want)
	}
	n.Devices()[0].Name = "changed"
	if n.Devices()[0].Name == "changed" {
		t.Error("Devices() exposes internal state")
	}

	d, err := n.Device(1)
	if err != nil {
		t.Fatal(err)
	}
	if d.Info() != want[1] {
		t.Errorf("Device(1).Info() = %+v", d.Info())
	}
	for _, bad := range []int{-1, 2} {
		_, err := n.Device(bad)
		if err == nil || !strings.Contains(err.Error(), "2 device(s)") {
			t.Errorf("Device(%d) error = %v; want one naming the count", bad, err)
		}
	}
}

func TestCUDAVersionString(t *testing.T) {
	for v, want := range map[int]string{13000: "13.0", 12040: "12.4", 11080: "11.8", 12090: "12.9"} {
		if got := cudaVersionString(v); got != want {
			t.Errorf("cudaVersionString(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestSampleHealthy(t *testing.T) {
	n := mustOpen(t, newMockLib(newMockDevice("GPU-a")))
	s := mustSample(t, n, 0)
	want := Sample{UtilisationPct: 42, SMClockMHz: 1755, MemoryUsedBytes: 3 << 30, ProcessMemory: map[int]int64{}, ProcessSMUtil: map[int]float64{}}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Sample() = %+v, want %+v", s, want)
	}
}

func TestSampleProcessMemory(t *testing.T) {
	dev := newMockDevice("GPU-a")
	dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{
			{Pid: 100, UsedGpuMemory: 1000},
			{Pid: 200, UsedGpuMemory: 5000},
			{Pid: 300, UsedGpuMemory: memoryNotAvailable},
		}, nvml.SUCCESS
	}
	dev.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{
			{Pid: 100, UsedGpuMemory: 1500}, // in both lists: counted once, larger value
			{Pid: 200, UsedGpuMemory: 4000},
			{Pid: 400, UsedGpuMemory: 64},
			{Pid: 500, UsedGpuMemory: memoryNotAvailable},
		}, nvml.SUCCESS
	}
	n := mustOpen(t, newMockLib(dev))
	got := mustSample(t, n, 0).ProcessMemory
	want := map[int]int64{100: 1500, 200: 5000, 400: 64}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ProcessMemory = %v, want %v", got, want)
	}
}

func TestSampleProcessListsUnsupported(t *testing.T) {
	dev := newMockDevice("GPU-a")
	dev.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
	dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: 7, UsedGpuMemory: 9}}, nvml.SUCCESS
	}
	n := mustOpen(t, newMockLib(dev))
	if got := mustSample(t, n, 0).ProcessMemory; !reflect.DeepEqual(got, map[int]int64{7: 9}) {
		t.Errorf("with graphics unsupported, ProcessMemory = %v", got)
	}

	dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.ERROR_NO_PERMISSION }
	if got := mustSample(t, n, 0).ProcessMemory; got != nil {
		t.Errorf("with both lists unreadable, ProcessMemory = %v, want nil", got)
	}
}

func TestSampleUnsupportedReadings(t *testing.T) {
	dev := newMockDevice("GPU-a")
	// A MIG-enabled or vGPU device refuses these; Sample must still succeed.
	dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED }
	dev.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	dev.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, nvml.ERROR_NOT_SUPPORTED }
	dev.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		return nil, nvml.ERROR_NOT_SUPPORTED
	}
	n := mustOpen(t, newMockLib(dev))
	s := mustSample(t, n, 0)
	if s.UtilisationPct != -1 || s.SMClockMHz != 0 || s.MemoryUsedBytes != -1 || s.ProcessSMUtil != nil {
		t.Errorf("Sample() = %+v; want utilisation -1, clock 0, memory -1, ProcessSMUtil nil", s)
	}
	if n.Devices()[0].MemoryTotalBytes != 0 {
		t.Errorf("MemoryTotalBytes = %d with memory info unsupported", n.Devices()[0].MemoryTotalBytes)
	}
}

func TestSampleLostGPU(t *testing.T) {
	dev := newMockDevice("GPU-a")
	n := mustOpen(t, newMockLib(dev))
	dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST }
	d, _ := n.Device(0)
	_, err := d.Sample()
	if err == nil || !strings.Contains(err.Error(), "ERROR_GPU_IS_LOST") || !strings.Contains(err.Error(), "NVML device 0") {
		t.Errorf("Sample() on a lost GPU: err = %v", err)
	}
}

func TestSampleProcessSMUtil(t *testing.T) {
	dev := newMockDevice("GPU-a")
	var seen []uint64
	calls := 0
	dev.GetProcessUtilizationFunc = func(lastSeen uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		seen = append(seen, lastSeen)
		calls++
		switch calls {
		case 1:
			return []nvml.ProcessUtilizationSample{
				{Pid: 10, TimeStamp: 1000, SmUtil: 20},
				{Pid: 10, TimeStamp: 3000, SmUtil: 40},
				{Pid: 10, TimeStamp: 2000, SmUtil: 90},
				{Pid: 11, TimeStamp: 2500, SmUtil: 5},
			}, nvml.SUCCESS
		case 2:
			return []nvml.ProcessUtilizationSample{
				{Pid: 11, TimeStamp: 5000, SmUtil: 50},
				{Pid: 12, TimeStamp: 4000, SmUtil: 0xFFFFFFFF}, // not a percentage
			}, nvml.SUCCESS
		default:
			return nil, nvml.ERROR_NOT_FOUND // nothing new
		}
	}
	n := mustOpen(t, newMockLib(dev))
	d, _ := n.Device(0)

	want := []map[int]float64{
		{10: 50, 11: 5},
		{11: 50},
		{},
	}
	for i, w := range want {
		s, err := d.Sample()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.ProcessSMUtil, w) {
			t.Errorf("call %d: ProcessSMUtil = %v, want %v", i+1, s.ProcessSMUtil, w)
		}
	}
	// The timestamp advances to the newest sample seen, including one whose
	// value was discarded, and stays put when NVML has nothing new.
	if wantSeen := []uint64{0, 3000, 5000}; !reflect.DeepEqual(seen, wantSeen) {
		t.Errorf("lastSeen passed to NVML = %v, want %v", seen, wantSeen)
	}

	// A second Device for the same GPU keeps its own timestamp.
	d2, _ := n.Device(0)
	calls = 0
	seen = nil
	if _, err := d2.Sample(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, []uint64{0}) {
		t.Errorf("new Device passed lastSeen %v, want [0]", seen)
	}
}

func TestFindProcess(t *testing.T) {
	d0 := newMockDevice("GPU-a")
	d1 := newMockDevice("GPU-b")
	d2 := newMockDevice("GPU-c")
	d0.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return nil, nvml.ERROR_NOT_SUPPORTED
	}
	d1.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		// Memory not attributable still counts: only the PID matters.
		return []nvml.ProcessInfo{{Pid: 42, UsedGpuMemory: memoryNotAvailable}}, nvml.SUCCESS
	}
	d2.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: 42, UsedGpuMemory: 1}, {Pid: 43, UsedGpuMemory: 1}}, nvml.SUCCESS
	}
	n := mustOpen(t, newMockLib(d0, d1, d2))
	for pid, want := range map[int]struct {
		index int
		ok    bool
	}{42: {1, true}, 43: {2, true}, 44: {0, false}} {
		i, ok := n.FindProcess(pid)
		if i != want.index || ok != want.ok {
			t.Errorf("FindProcess(%d) = %d, %v; want %d, %v", pid, i, ok, want.index, want.ok)
		}
	}
}

func TestClose(t *testing.T) {
	lib := newMockLib(newMockDevice("GPU-a"))
	n, err := openWith(lib)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(lib.ShutdownCalls()); got != 1 {
		t.Errorf("Shutdown called %d times, want 1", got)
	}

	lib = newMockLib(newMockDevice("GPU-a"))
	lib.ShutdownFunc = func() nvml.Return { return nvml.ERROR_UNKNOWN }
	n, _ = openWith(lib)
	if err := n.Close(); err == nil || !strings.Contains(err.Error(), "ERROR_UNKNOWN") {
		t.Errorf("Close() = %v, want the Shutdown failure", err)
	}
}

// TestRealNVML runs only where a driver is installed; it checks that real
// NVML answers fit the types (on this project's CI it skips).
func TestRealNVML(t *testing.T) {
	n, err := OpenNVML()
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("no NVML here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	devs := n.Devices()
	if len(devs) == 0 {
		t.Fatal("OpenNVML succeeded with no devices")
	}
	for _, info := range devs {
		t.Logf("device: %+v", info)
		if info.Name == "" || !strings.HasPrefix(info.UUID, "GPU-") || info.MemoryTotalBytes <= 0 ||
			info.Driver == "" || !strings.Contains(info.CUDA, ".") {
			t.Errorf("implausible DeviceInfo %+v", info)
		}
		d, err := n.Device(info.Index)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			s, err := d.Sample()
			if err != nil {
				t.Fatalf("Sample: %v", err)
			}
			t.Logf("sample %d: %+v", i, s)
			if s.MemoryUsedBytes < 0 || s.MemoryUsedBytes > info.MemoryTotalBytes {
				t.Errorf("MemoryUsedBytes %d outside 0..%d", s.MemoryUsedBytes, info.MemoryTotalBytes)
			}
			if s.UtilisationPct > 100 {
				t.Errorf("UtilisationPct %v", s.UtilisationPct)
			}
		}
		if got, err := CUDAOrdinalToNVML(0, info.UUID, devs); err != nil || got != info.Index {
			t.Errorf("CUDAOrdinalToNVML(0, own UUID) = %d, %v", got, err)
		}
	}
	if i, ok := n.FindProcess(-5); ok {
		t.Errorf("FindProcess(-5) = %d, true", i)
	}

	// With a CUDA process running, its PID must be found and its memory seen.
	if v := os.Getenv("INFERGATE_GPU_TEST_PID"); v != "" {
		pid, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		i, ok := n.FindProcess(pid)
		if !ok {
			t.Fatalf("FindProcess(%d) found nothing", pid)
		}
		d, _ := n.Device(i)
		s, err := d.Sample()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("with pid %d on device %d: %+v", pid, i, s)
		if s.ProcessMemory[pid] <= 0 {
			t.Errorf("ProcessMemory[%d] = %d", pid, s.ProcessMemory[pid])
		}
	}
}
