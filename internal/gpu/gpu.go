// Package gpu reads GPU facts for infergate's GPU support.
//
// Two sources are supported. NVML (the NVIDIA Management Library) is loaded at
// run time with dlopen, so one binary runs both where the NVIDIA driver is
// installed and where it is not: OpenNVML then fails with an error wrapping
// ErrUnavailable instead of the binary failing to start. A server's Prometheus
// metrics endpoint (Triton's :8002/metrics, the DCGM exporter) covers GPUs that
// sit behind a remote inference server, where NVML cannot see them.
//
// NVML needs cgo; a binary built without cgo still has this package, but
// OpenNVML always reports ErrUnavailable.
package gpu

import "errors"

// ErrUnavailable is wrapped by errors that mean "no NVIDIA GPU can be read
// here" (no driver, no library, no device), as opposed to a GPU that is present
// but failing, so callers can degrade quietly.
var ErrUnavailable = errors.New("no NVIDIA GPU visible")

// DeviceInfo describes one GPU.
type DeviceInfo struct {
	Index            int // NVML index; -1 for a server's metrics endpoint
	UUID             string
	Name             string // "NVIDIA H100 80GB HBM3"
	MemoryTotalBytes int64
	Driver           string // driver version, "580.159.04"
	CUDA             string // the driver's CUDA version, "13.0"
	SMClockMaxMHz    int
}

// Sample is one reading of one device. Fields that could not be read are
// zero, nil or -1 as documented on each.
type Sample struct {
	UtilisationPct  float64 // device-wide GPU utilisation 0-100; -1 when unknown
	SMClockMHz      int     // current SM clock; 0 when unknown
	MemoryUsedBytes int64   // whole device; -1 when unknown
	// ProcessMemory is device memory used by each process on the device, by
	// PID, as NVML reports it (compute and graphics processes merged; a PID in
	// both lists counts once, the larger value). nil when unknown.
	ProcessMemory map[int]int64
	// ProcessSMUtil is each process's mean SM utilisation (0-100) over NVML's
	// samples since the previous Sample call on this device; nil when
	// unsupported, empty when NVML holds no new samples.
	ProcessSMUtil map[int]float64
}

// Device is something that can be sampled: an NVML device or a server's
// metrics endpoint. Safe for use by one goroutine.
type Device interface {
	Info() DeviceInfo
	Sample() (Sample, error)
}
