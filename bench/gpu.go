package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infergate/infergate/internal/gpu"
	"github.com/infergate/infergate/result"
)

// Sampling intervals. NVML reads are cheap (tens of microseconds) and
// its process lists change as the arena grows, so it is read often; a
// server's metrics endpoint is an HTTP scrape that the server itself
// refreshes every second or two.
const (
	DefaultGPUInterval     = 50 * time.Millisecond
	DefaultMetricsInterval = time.Second
)

// GPUWatch says how to watch one target's GPU use.
type GPUWatch struct {
	Device gpu.Device
	// DeviceIndex is the device's entry in the result's Machine.GPUs.
	DeviceIndex int
	// PID is the process whose device memory and SM utilisation are the
	// target's (a local model's worker, a server given --server-pid); 0
	// reads the whole device (a server's metrics).
	PID      int
	Interval time.Duration
}

// GPUMonitor samples the GPUs of the targets it watches while they run:
// each target's device memory (its process's, or the device's), SM
// utilisation, and the SM clock while that target's blocks run. Wrap each
// target with Wrap before measuring; the block that resets the peak (the
// measured pass's first) starts the measured statistics afresh, as for
// resident memory.
type GPUMonitor struct {
	watches []*GPUWatch // by target; nil for a target not watched
	active  atomic.Int32

	groups []gpuGroup // the watched devices and their targets, from Start

	mu        sync.Mutex
	measuring bool
	stats     []gpuStats
	errs      []string // the first error of each sampling loop, for warnings
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

type gpuGroup struct {
	device  gpu.Device
	targets []int
}

type gpuStats struct {
	load, peak int64 // -1 until read
	samples    int
	utilSum    float64
	utilN      int
	clocks     []int
}

// NewGPUMonitor watches the targets that have a watch (watches[i] for
// target i; nil entries are not watched).
func NewGPUMonitor(watches []*GPUWatch) *GPUMonitor {
	m := &GPUMonitor{watches: watches, stats: make([]gpuStats, len(watches))}
	m.active.Store(-1)
	for i := range m.stats {
		m.stats[i] = gpuStats{load: -1, peak: -1}
	}
	return m
}

// Wrap makes target i tell the monitor when it runs and when its measured
// pass begins.
func (m *GPUMonitor) Wrap(i int, t Target) Target {
	if m == nil || i >= len(m.watches) || m.watches[i] == nil {
		return t
	}
	return &gpuWatched{Target: t, m: m, index: int32(i)}
}

// Start reads every watched device once, for the memory held after load,
// and starts sampling: one loop per device.
func (m *GPUMonitor) Start() {
	if m == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	byDevice := map[gpu.Device][]int{}
	var order []gpu.Device
	for i, w := range m.watches {
		if w == nil {
			continue
		}
		if _, seen := byDevice[w.Device]; !seen {
			order = append(order, w.Device)
		}
		byDevice[w.Device] = append(byDevice[w.Device], i)
	}
	for _, d := range order {
		targets := byDevice[d]
		m.groups = append(m.groups, gpuGroup{device: d, targets: targets})
		interval := m.watches[targets[0]].interval()
		m.sample(d, targets)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					m.sample(d, targets)
				}
			}
		}()
	}
}

// Stop ends sampling. The statistics stay readable.
func (m *GPUMonitor) Stop() {
	if m == nil || m.cancel == nil {
		return
	}
	m.cancel()
	m.wg.Wait()
}

// sample reads device d once and adds the reading to targets' statistics.
func (m *GPUMonitor) sample(d gpu.Device, targets []int) {
	s, err := d.Sample()
	active := int(m.active.Load())
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		msg := fmt.Sprintf("GPU sampling of %s failed: %v", d.Info().Name, err)
		if !slices.Contains(m.errs, msg) {
			m.errs = append(m.errs, msg)
		}
		return
	}
	for _, i := range targets {
		w, st := m.watches[i], &m.stats[i]
		mem, memOK := int64(-1), false
		if w.PID != 0 {
			mem, memOK = s.ProcessMemory[w.PID]
		} else if s.MemoryUsedBytes >= 0 {
			mem, memOK = s.MemoryUsedBytes, true
		}
		if !m.measuring {
			if memOK && st.load < 0 {
				st.load = mem
			}
			continue
		}
		st.samples++
		if memOK {
			st.peak = max(st.peak, mem)
		}
		util := -1.0
		if w.PID != 0 {
			if u, ok := s.ProcessSMUtil[w.PID]; ok {
				util = u
			}
		} else {
			util = s.UtilisationPct
		}
		if util >= 0 {
			st.utilSum += util
			st.utilN++
		}
		if s.SMClockMHz > 0 && active == i {
			st.clocks = append(st.clocks, s.SMClockMHz)
		}
	}
}

// beginMeasured starts the measured statistics afresh, the memory held
// after load staying, and reads every device at once: a pass shorter than
// the sampling interval still gets a reading.
func (m *GPUMonitor) beginMeasured() {
	m.mu.Lock()
	m.measuring = true
	for i := range m.stats {
		st := &m.stats[i]
		*st = gpuStats{load: st.load, peak: -1}
	}
	m.mu.Unlock()
	for _, g := range m.groups {
		m.sample(g.device, g.targets)
	}
}

// Usage is what each target used of its GPU in the measured pass so far;
// nil for targets not watched.
func (m *GPUMonitor) Usage() []*result.GPUUsage {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*result.GPUUsage, len(m.watches))
	for i, w := range m.watches {
		if w == nil {
			continue
		}
		st := m.stats[i]
		u := &result.GPUUsage{
			Device:           w.DeviceIndex,
			Source:           result.GPUSourceProcess,
			PID:              w.PID,
			LoadMemoryBytes:  max(0, st.load),
			PeakMemoryBytes:  max(0, st.peak),
			SampleIntervalNS: int64(w.interval()),
			Samples:          st.samples,
			UtilisationPct:   -1,
		}
		if w.PID == 0 {
			u.Source = result.GPUSourceMetrics
		}
		if st.peak < 0 {
			// No reading in the measured pass: what load held is all that
			// is known.
			u.PeakMemoryBytes = max(0, st.load)
		}
		if st.utilN > 0 {
			u.UtilisationPct = st.utilSum / float64(st.utilN)
		}
		u.SMClockMHz = clockRange(st.clocks)
		out[i] = u
	}
	return out
}

// Warnings are the sampling failures met so far, one line each.
func (m *GPUMonitor) Warnings() []string {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.errs)
}

func (w *GPUWatch) interval() time.Duration {
	if w.Interval > 0 {
		return w.Interval
	}
	return DefaultGPUInterval
}

func clockRange(clocks []int) *result.ClockRange {
	if len(clocks) == 0 {
		return nil
	}
	c := slices.Clone(clocks)
	slices.Sort(c)
	return &result.ClockRange{Min: c[0], Median: c[len(c)/2], Max: c[len(c)-1], Samples: len(c)}
}

// gpuWatched tells its monitor when the target runs.
type gpuWatched struct {
	Target
	m     *GPUMonitor
	index int32
}

func (t *gpuWatched) Run(ctx context.Context, blk Block) (BlockResult, error) {
	t.m.active.Store(t.index)
	if blk.ResetPeak {
		t.m.beginMeasured()
	}
	defer t.m.active.Store(-1)
	return t.Target.Run(ctx, blk)
}

// ClockShiftTolerance is how far the median SM clocks of two targets on
// one GPU may differ before ClockWarnings warns.
const ClockShiftTolerance = 0.03

// ClockWarnings warns when the SM clock differed between the targets'
// blocks on the same GPU: a throttled or boosted clock moves latency, and
// the ratio would then measure the clock as much as the models. names and
// usages are by target.
func ClockWarnings(names []string, usages []*result.GPUUsage) []string {
	var out []string
	for i := range usages {
		for j := i + 1; j < len(usages); j++ {
			a, b := usages[i], usages[j]
			if a == nil || b == nil || a.Device != b.Device || a.SMClockMHz == nil || b.SMClockMHz == nil {
				continue
			}
			ma, mb := float64(a.SMClockMHz.Median), float64(b.SMClockMHz.Median)
			if ma <= 0 || mb <= 0 {
				continue
			}
			if shift := max(ma, mb)/min(ma, mb) - 1; shift > ClockShiftTolerance {
				out = append(out, fmt.Sprintf("the GPU's SM clock differed between the targets' rounds: %s at a median %d MHz, %s at %d MHz (%.0f%% apart); latency ratios may reflect the clock (throttling, boost) as well as the models",
					names[i], a.SMClockMHz.Median, names[j], b.SMClockMHz.Median, 100*shift))
			}
		}
	}
	return out
}
