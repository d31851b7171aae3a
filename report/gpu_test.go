package report

import (
	"math"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/result"
)

const GiB = 1 << 30

// h100 is the fixtures' GPU, as NVML describes an H100 SXM.
var h100 = result.GPUDevice{
	Index: 0, UUID: "GPU-5f2c8e1a-3b7d-4c9e-8a61-0d4f2b9c7e13", Name: "NVIDIA H100 80GB HBM3",
	MemoryTotalBytes: 85520809984, Driver: "580.82.07", CUDA: "13.0", SMClockMaxMHz: 1980,
}

// gpuClockWarning is the warning a run writes when the SM clock differed
// between the targets.
const gpuClockWarning = "the GPU's SM clock differed between the targets (median 1980 MHz for production, 1635 MHz for the candidate): " +
	"throttling may account for part of the latency difference"

// gpuFixture is a pair run on one H100, both models in their own worker
// process watched by NVML: the candidate holds 24% more device memory at
// peak, failing --max-gpu-memory-increase 1.1, and ran at a lower SM
// clock, which the run warned about.
func gpuFixture(t *testing.T) *result.Result {
	p, c := prodSide, candSide
	p.gpu = &result.GPUUsage{
		Device: 0, Source: result.GPUSourceProcess, PID: 41873,
		LoadMemoryBytes: 1454 * MiB, PeakMemoryBytes: 2150 * MiB,
		SampleIntervalNS: int64(50 * time.Millisecond), Samples: 1660, UtilisationPct: 61.4,
		SMClockMHz: &result.ClockRange{Min: 1755, Median: 1980, Max: 1980, Samples: 830},
	}
	c.gpu = &result.GPUUsage{
		Device: 0, Source: result.GPUSourceProcess, PID: 41902,
		LoadMemoryBytes: 1587 * MiB, PeakMemoryBytes: 2673 * MiB,
		SampleIntervalNS: int64(50 * time.Millisecond), Samples: 1624, UtilisationPct: 58.9,
		SMClockMHz: &result.ClockRange{Min: 1410, Median: 1635, Max: 1980, Samples: 812},
	}
	r := newResult(t, compare.Thresholds{MaxLatencyIncrease: 1.15, MaxGPUMemoryIncrease: 1.1}, compare.ModePair, p, c)
	r.Config.Device = "cuda"
	r.Config.Thresholds = map[string]string{"max-latency-increase": "1.15", "max-gpu-memory-increase": "1.1"}
	r.Machine.GPU = h100.Name
	r.Machine.GPUs = []result.GPUDevice{h100}
	r.Warnings = []string{gpuClockWarning}
	return r
}

// serverGPUFixture is a pair run against endpoints whose server exports
// GPU metrics: a device known only from them (index -1), its memory the
// whole device's, without utilisation or clock readings; production's
// server had no metrics at all.
func serverGPUFixture(t *testing.T) *result.Result {
	p, c := prodSide, candSide
	p.loadRSS, p.peakRSS, c.loadRSS, c.peakRSS = 0, 0, 0, 0
	c.gpu = &result.GPUUsage{
		Device: -1, Source: result.GPUSourceMetrics,
		LoadMemoryBytes: 30 * GiB, PeakMemoryBytes: 31 * GiB,
		SampleIntervalNS: int64(time.Second), Samples: 83, UtilisationPct: -1,
	}
	r := newResult(t, compare.Thresholds{MaxLatencyIncrease: 1.15, MaxGPUMemoryIncrease: 1.1}, compare.ModePair, p, c)
	r.Machine.GPU = "NVIDIA A10G"
	r.Machine.GPUs = []result.GPUDevice{{Index: -1, Name: "NVIDIA A10G"}}
	return r
}

func TestGPUFormats(t *testing.T) {
	r := gpuFixture(t)
	for name, want := range map[string][]string{
		"table": {
			"GPU 0: NVIDIA H100 80GB HBM3 · 79.6 GiB · driver 580.82.07 · CUDA 13.0 · SM clock max 1980 MHz",
			"warning: the GPU's SM clock differed",
			"verdict: FAIL (1 of 2 checks failed: max-gpu-memory-increase)",
		},
		"md": {
			"### GPU\n\n| GPU | production | candidate | ratio |\n| --- | ---: | ---: | ---: |\n",
			"| peak memory | 2.10 GiB | 2.61 GiB | 1.24× |",
			"| SM clock | 1980 MHz (1755–1980) | 1635 MHz (1410–1980) |  |",
			"GPU 0: NVIDIA H100 80GB HBM3 · 79.6 GiB · driver 580.82.07 · CUDA 13.0 · SM clock max 1980 MHz  ",
			"| machine gpus\\[0\\] | GPU 0: NVIDIA H100 80GB HBM3 · 79.6 GiB · driver 580.82.07 · CUDA 13.0 · SM clock max 1980 MHz · GPU-5f2c8e1a",
			"| max-gpu-memory-increase | gpu\\_memory | 2.10 GiB | 2.61 GiB | 1.24× \\[1.18, 1.31\\] | ≤ 1.10× | ❌ FAIL |",
			"- ⚠️ the GPU's SM clock differed",
		},
		"html": {
			`<h2 id="metrics">Latency, throughput, memory, GPU and errors</h2>`,
			`<tr><th class="group" colspan="4">GPU</th></tr>`,
			`<td>peak memory</td><td class="num">2.10 GiB</td><td class="num">2.61 GiB</td><td class="num">1.24×</td>`,
			"<td>gpus[0]</td><td>GPU 0: NVIDIA H100 80GB HBM3",
		},
		"junit": {"GPU peak memory", `<testcase name="max-gpu-memory-increase"`},
		"openmetrics": {
			`infergate_gpu_memory_peak_bytes{role="candidate",model="fraud-v2",infergate_version="0.1.0",device="0",source="nvml-process"} 2802843648`,
			`infergate_gpu_utilisation_ratio{role="production",model="fraud-v1",infergate_version="0.1.0",device="0",source="nvml-process"} 0.614`,
			`infergate_gpu_sm_clock_mhz{role="candidate",model="fraud-v2",infergate_version="0.1.0",device="0",source="nvml-process",stat="median"} 1635`,
			`infergate_gpu_memory_total_bytes{device="0",name="NVIDIA H100 80GB HBM3",infergate_version="0.1.0"} 85520809984`,
		},
	} {
		out := renderFormat(t, name, r)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", name, w, out)
			}
		}
	}
	table := render(t, NewTable, r)
	for _, row := range [][]string{
		{"GPU source", "device 0, pid 41873", "device 0, pid 41902"},
		{"GPU memory after load", "1.42 GiB", "1.55 GiB", "1.09×"},
		{"GPU peak memory", "2.10 GiB", "2.61 GiB", "1.24×"},
		{"GPU SM utilisation", "61.40%", "58.90%"},
		{"GPU SM clock", "1980 MHz (1755–1980)", "1635 MHz (1410–1980)"},
		{"max-gpu-memory-increase", "≤ 1.10×", "2.10 GiB", "2.61 GiB", "1.24× [1.18, 1.31]", "FAIL"},
	} {
		tableRow(t, table, row...)
	}
	checkHTML(t, "pair_gpu", render(t, NewHTML, r), []string{"max-latency-increase", "max-gpu-memory-increase"})
	checkJUnit(t, "pair_gpu", render(t, NewJUnit, r))

	fams := parseOpenMetrics(t, "pair_gpu", render(t, NewOpenMetrics, r))
	for fam, n := range map[string]int{
		"infergate_gpu_memory_load_bytes": 2, "infergate_gpu_memory_peak_bytes": 2,
		"infergate_gpu_utilisation_ratio": 2, "infergate_gpu_sm_clock_mhz": 6, "infergate_gpu_memory_total_bytes": 1,
	} {
		if f := fams[fam]; f == nil || f.GetType() != dto.MetricType_GAUGE || len(f.GetMetric()) != n {
			t.Errorf("%s: %v, want %d gauges", fam, f, n)
		}
	}
	for _, m := range fams["infergate_gpu_utilisation_ratio"].GetMetric() {
		if v := m.GetGauge().GetValue(); v <= 0 || v > 1 {
			t.Errorf("utilisation ratio %g outside (0, 1]", v)
		}
	}
	if u := fams["infergate_gpu_memory_peak_bytes"].GetUnit(); u != "bytes" {
		t.Errorf("peak GPU memory unit %q", u)
	}
}

// tableRow asserts that the table has a row, the line that starts with
// cells[0], holding every one of cells; runs of spaces in the line count
// as one, so that the cells can be given without the padding.
func tableRow(t *testing.T, table string, cells ...string) {
	t.Helper()
	for _, line := range strings.Split(table, "\n") {
		line = strings.Join(strings.Fields(line), " ")
		if !strings.HasPrefix(line, "│ "+cells[0]+" ") {
			continue
		}
		for _, c := range cells[1:] {
			if !strings.Contains(line, c) {
				t.Errorf("row %q lacks %q: %s", cells[0], c, line)
			}
		}
		return
	}
	t.Errorf("no row %q in\n%s", cells[0], table)
}

// renderFormat renders r as the table or as one of newFormats.
func renderFormat(t *testing.T, name string, r *result.Result) string {
	t.Helper()
	if name == "table" {
		return render(t, NewTable, r)
	}
	return render(t, newFormats[name], r)
}

func TestGPUAbsentForCPURuns(t *testing.T) {
	for name, r := range fixtures(t) {
		if r.Machine.GPUs != nil {
			continue
		}
		for _, format := range []string{"table", "md", "html", "junit"} {
			if out := renderFormat(t, format, r); strings.Contains(out, "GPU") {
				t.Errorf("%s.%s mentions a GPU in a CPU run", name, format)
			}
		}
		if out := renderFormat(t, "openmetrics", r); strings.Contains(out, "infergate_gpu") {
			t.Errorf("%s.openmetrics has GPU series in a CPU run", name)
		}
	}
}

func TestGPUServerMetrics(t *testing.T) {
	r := serverGPUFixture(t)
	for name, want := range map[string][]string{
		"table": {
			"GPU (server metrics): NVIDIA A10G\n",
			"max-gpu-memory-increase: production peak GPU memory was not measured",
		},
		"md": {"| SM utilisation | n/a | – |  |", "| SM clock | n/a | – |  |", "GPU (server metrics): NVIDIA A10G  "},
		"html": {
			`<td>source</td><td class="num">n/a</td><td class="num">whole device (server metrics)</td>`,
			"<td>gpus[0]</td><td>GPU (server metrics): NVIDIA A10G</td>",
		},
	} {
		out := renderFormat(t, name, r)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", name, w, out)
			}
		}
		for _, bad := range []string{"-1%", "-1.00%", "device -1", "GPU -1", "0 MHz"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s has %q:\n%s", name, bad, out)
			}
		}
	}
	table := render(t, NewTable, r)
	for _, row := range [][]string{
		{"GPU source", "│ n/a │ whole device (server metrics) │ │"},
		{"GPU memory after load", "│ n/a │ 30.0 GiB │ – │"},
		{"GPU peak memory", "│ n/a │ 31.0 GiB │ – │"},
		{"GPU SM utilisation", "│ n/a │ – │ │"},
		{"GPU SM clock", "│ n/a │ – │ │"},
	} {
		tableRow(t, table, row...)
	}
	fams := parseOpenMetrics(t, "server metrics", render(t, NewOpenMetrics, r))
	for _, fam := range []string{"infergate_gpu_utilisation_ratio", "infergate_gpu_sm_clock_mhz", "infergate_gpu_memory_total_bytes"} {
		if fams[fam] != nil {
			t.Errorf("%s present without a reading: %v", fam, fams[fam])
		}
	}
	peak := fams["infergate_gpu_memory_peak_bytes"].GetMetric()
	if len(peak) != 1 || labels(peak[0])["source"] != "server-metrics" || labels(peak[0])["device"] != "-1" ||
		math.Abs(peak[0].GetGauge().GetValue()-31*GiB) > 0 {
		t.Errorf("peak GPU memory series %v", peak)
	}
}
