package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/infergate/infergate/report/human"
	"github.com/infergate/infergate/result"
)

// groupGPU is the metrics table's group of GPU rows; it is its own title
// ("GPU", not "Gpu") in the formats that show groups apart.
const groupGPU = "GPU"

// rowAdder adds a row to the metrics table (see metricsTable): value
// formats one target's number, ratioOf gives the number ratios are taken
// of (nil: no ratio for this row).
type rowAdder func(group, prefix, label string, value func(*result.Target) string, ratioOf func(*result.Target) float64)

// hasGPU reports whether any of the targets had its GPU watched: only then
// do the reports show GPU rows, so CPU runs' reports are unchanged.
func hasGPU(cols []*result.Target) bool {
	return slices.ContainsFunc(cols, func(t *result.Target) bool { return t.GPU != nil })
}

// gpuRows adds the GPU group: where the figures came from, device memory
// after load and at peak (with ratios, like the RSS rows), mean SM
// utilisation and the SM clock while the target ran. A target whose GPU
// was not watched shows "n/a", like unmeasured memory; an unknown
// utilisation or clock shows "–".
func gpuRows(row rowAdder) {
	// As for RSS: both zero means the memory was not measured.
	unmeasured := func(u *result.GPUUsage) bool {
		return u == nil || u.LoadMemoryBytes == 0 && u.PeakMemoryBytes == 0
	}
	row(groupGPU, "GPU ", "source", gpuCell(gpuSource), nil)
	row(groupGPU, "GPU ", "memory after load", func(t *result.Target) string {
		if unmeasured(t.GPU) {
			return "n/a"
		}
		return human.Bytes(t.GPU.LoadMemoryBytes)
	}, gpuBytes(func(u *result.GPUUsage) int64 { return u.LoadMemoryBytes }))
	row(groupGPU, "GPU ", "peak memory", func(t *result.Target) string {
		if t.GPU == nil || t.GPU.PeakMemoryBytes == 0 {
			return "n/a"
		}
		return human.Bytes(t.GPU.PeakMemoryBytes)
	}, gpuBytes(func(u *result.GPUUsage) int64 { return u.PeakMemoryBytes }))
	row(groupGPU, "GPU ", "SM utilisation", gpuCell(func(u *result.GPUUsage) string {
		if u.UtilisationPct < 0 {
			return dash
		}
		return human.Percent(u.UtilisationPct / 100)
	}), nil)
	row(groupGPU, "GPU ", "SM clock", gpuCell(func(u *result.GPUUsage) string { return clockRange(u.SMClockMHz) }), nil)
}

// gpuCell formats a target's GPU usage with f, or "n/a" for a target
// whose GPU was not watched.
func gpuCell(f func(*result.GPUUsage) string) func(*result.Target) string {
	return func(t *result.Target) string {
		if t.GPU == nil {
			return "n/a"
		}
		return f(t.GPU)
	}
}

// gpuBytes is the number a GPU memory ratio is taken of: 0 (no ratio)
// for a target whose GPU was not watched.
func gpuBytes(get func(*result.GPUUsage) int64) func(*result.Target) float64 {
	return func(t *result.Target) float64 {
		if t.GPU == nil {
			return 0
		}
		return float64(get(t.GPU))
	}
}

// gpuSource says where a target's GPU figures came from: its own
// process's accounting on a device ("device 0, pid 4242"), or the whole
// device as the server's metrics report it, other processes included
// ("whole device (server metrics)").
func gpuSource(u *result.GPUUsage) string {
	device := "device"
	if u.Device >= 0 {
		device = "device " + strconv.Itoa(u.Device)
	}
	switch u.Source {
	case result.GPUSourceProcess:
		if u.PID > 0 {
			return device + ", pid " + strconv.Itoa(u.PID)
		}
		return device + ", own process"
	case result.GPUSourceMetrics:
		return "whole " + device + " (server metrics)"
	case "":
		return device
	}
	return device + ", " + u.Source
}

// clockRange is "1980 MHz (1755–1980)": the median, then the range when
// the clock moved; "–" without samples.
func clockRange(c *result.ClockRange) string {
	if !clockKnown(c) {
		return dash
	}
	s := strconv.Itoa(c.Median) + " MHz"
	if c.Min != c.Max {
		s += fmt.Sprintf(" (%d–%d)", c.Min, c.Max)
	}
	return s
}

// clockKnown reports whether c has a reading.
func clockKnown(c *result.ClockRange) bool { return c != nil && (c.Samples > 0 || c.Median > 0) }

// gpuDevice describes a GPU in one line: "NVIDIA H100 80GB HBM3 · 79.6 GiB
// · driver 580.82.07 · CUDA 13.0 · SM clock max 1980 MHz", with its UUID
// when withUUID is set.
func gpuDevice(d result.GPUDevice, withUUID bool) string {
	parts := []string{d.Name}
	if d.MemoryTotalBytes > 0 {
		parts = append(parts, human.Bytes(d.MemoryTotalBytes))
	}
	if d.Driver != "" {
		parts = append(parts, "driver "+d.Driver)
	}
	if d.CUDA != "" {
		parts = append(parts, "CUDA "+d.CUDA)
	}
	if d.SMClockMaxMHz > 0 {
		parts = append(parts, fmt.Sprintf("SM clock max %d MHz", d.SMClockMaxMHz))
	}
	if withUUID && d.UUID != "" {
		parts = append(parts, d.UUID)
	}
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	return strings.Join(parts, " · ")
}

// gpuLabel names a device by its index: "GPU 0", or "GPU (server
// metrics)" for one known only from a server's metrics.
func gpuLabel(d result.GPUDevice) string {
	if d.Index < 0 {
		return "GPU (server metrics)"
	}
	return "GPU " + strconv.Itoa(d.Index)
}

// gpuMetaLines are the machine's GPUs, one line each: "GPU 0: NVIDIA H100
// 80GB HBM3 · 79.6 GiB · driver 580.82.07 · CUDA 13.0 · …".
func gpuMetaLines(m result.Machine) []string {
	var out []string
	for _, d := range m.GPUs {
		out = append(out, gpuLabel(d)+": "+gpuDevice(d, false))
	}
	return out
}

// gpuSettings are the machine's GPUs as settings, keyed by the document's
// field: "gpus[0]".
func gpuSettings(m result.Machine) []setting {
	var out []setting
	for i, d := range m.GPUs {
		out = append(out, setting{fmt.Sprintf("gpus[%d]", i), gpuLabel(d) + ": " + gpuDevice(d, true)})
	}
	return out
}
