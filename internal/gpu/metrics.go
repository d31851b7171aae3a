package gpu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

const (
	// maxMetricsBody caps a scrape: a GPU server's page is tens of KiB, and a
	// wrong URL must not make infergate read a huge file into memory.
	maxMetricsBody = 8 << 20
	scrapeTimeout  = 5 * time.Second
)

// MetricGPU is one GPU as a metrics page reports it; numbers are -1 when the
// page does not give them.
type MetricGPU struct {
	UUID            string
	MemoryUsedBytes int64
	UtilisationPct  float64
	SMClockMHz      int
}

type metricKind int

const (
	memoryUsed metricKind = iota
	utilisation
	smClock
)

// gpuMetric is one recognised metric name and how to turn its value into
// bytes, percent or MHz.
type gpuMetric struct {
	name  string
	kind  metricKind
	scale float64
}

// gpuMetrics is in priority order: when a page gives the same quantity under
// two names (Triton and DCGM side by side), the earlier name wins rather than
// the two being added.
var gpuMetrics = []gpuMetric{
	{"nv_gpu_memory_used_bytes", memoryUsed, 1},
	{"nv_gpu_utilization", utilisation, 100},     // Triton reports a 0..1 ratio
	{"DCGM_FI_DEV_FB_USED", memoryUsed, 1 << 20}, // MiB
	{"DCGM_FI_DEV_GPU_UTIL", utilisation, 1},
	{"DCGM_FI_DEV_SM_CLOCK", smClock, 1},
	{"gpu_memory_used_bytes", memoryUsed, 1},
	{"gpu_utilization_percent", utilisation, 1},
	{"gpu_sm_clock_mhz", smClock, 1},
}

// errNoGPUMetrics is returned for a page that parses but names no GPU.
var errNoGPUMetrics = errors.New("no GPU metrics (nv_gpu_*, DCGM_FI_DEV_*, gpu_*) on the page")

// gpuKey identifies a GPU across series: its UUID when labelled, else its
// index label.
type gpuKey struct {
	uuid string
	gpu  string
}

// ParseMetrics reads a Prometheus text exposition and returns one MetricGPU
// per GPU it finds (series are grouped by the gpu_uuid label, else UUID, else
// gpu). Several series of one quantity for one GPU (MIG instances under DCGM)
// are combined: memory summed, utilisation the largest, clock the lowest.
// Values that are negative, not finite or out of range count as unknown. A
// page without any recognised GPU metric is an error.
func ParseMetrics(r io.Reader) ([]MetricGPU, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}

	gpus := map[gpuKey]*MetricGPU{}
	get := func(k gpuKey) *MetricGPU {
		g := gpus[k]
		if g == nil {
			g = &MetricGPU{UUID: k.uuid, MemoryUsedBytes: -1, UtilisationPct: -1, SMClockMHz: -1}
			gpus[k] = g
		}
		return g
	}
	// set records which quantity of which GPU an earlier metric name already
	// gave, so a later name does not add to it.
	set := map[gpuKey]map[metricKind]string{}

	for _, gm := range gpuMetrics {
		mf := families[gm.name]
		if mf == nil {
			continue
		}
		for _, m := range mf.GetMetric() {
			k := keyOf(m)
			g := get(k) // a series with a bad value still shows the GPU exists
			if set[k] == nil {
				set[k] = map[metricKind]string{}
			}
			if by, ok := set[k][gm.kind]; ok && by != gm.name {
				continue
			}
			v, ok := valueOf(m)
			if !ok || v < 0 {
				continue
			}
			v *= gm.scale
			switch gm.kind {
			case memoryUsed:
				if v >= 1<<62 {
					continue
				}
				if g.MemoryUsedBytes < 0 {
					g.MemoryUsedBytes = 0
				}
				// Cap rather than wrap should a hostile page add up past int64.
				g.MemoryUsedBytes = addCapped(g.MemoryUsedBytes, int64(v))
			case utilisation:
				if v > 100 {
					continue
				}
				g.UtilisationPct = math.Max(g.UtilisationPct, v)
			case smClock:
				if v >= 1<<31 {
					continue
				}
				if c := int(v); g.SMClockMHz < 0 || c < g.SMClockMHz {
					g.SMClockMHz = c
				}
			}
			set[k][gm.kind] = gm.name
		}
	}
	if len(gpus) == 0 {
		return nil, errNoGPUMetrics
	}

	keys := make([]gpuKey, 0, len(gpus))
	for k := range gpus {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lessKey(keys[i], keys[j]) })
	out := make([]MetricGPU, len(keys))
	for i, k := range keys {
		out[i] = *gpus[k]
	}
	return out, nil
}

func keyOf(m *dto.Metric) gpuKey {
	var k gpuKey
	var uuid string
	for _, lp := range m.GetLabel() {
		switch lp.GetName() {
		case "gpu_uuid":
			k.uuid = lp.GetValue()
		case "UUID":
			uuid = lp.GetValue()
		case "gpu":
			k.gpu = lp.GetValue()
		}
	}
	if k.uuid == "" {
		k.uuid = uuid
	}
	if k.uuid != "" {
		k.gpu = "" // the UUID alone identifies the GPU
	}
	return k
}

// lessKey orders GPUs by UUID, then by index label numerically where it is a
// number, so "gpu 10" follows "gpu 2".
func lessKey(a, b gpuKey) bool {
	if a.uuid != b.uuid {
		return a.uuid < b.uuid
	}
	ai, aerr := strconv.Atoi(a.gpu)
	bi, berr := strconv.Atoi(b.gpu)
	if aerr == nil && berr == nil {
		return ai < bi
	}
	return a.gpu < b.gpu
}

// valueOf takes the value of a gauge, untyped or counter series; others
// (histograms, summaries) are not GPU readings.
func valueOf(m *dto.Metric) (float64, bool) {
	var v float64
	switch {
	case m.Gauge != nil:
		v = m.Gauge.GetValue()
	case m.Untyped != nil:
		v = m.Untyped.GetValue()
	case m.Counter != nil:
		v = m.Counter.GetValue()
	default:
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func addCapped(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// MetricsDevice samples a server's Prometheus metrics endpoint, aggregating
// over every GPU on the page.
type MetricsDevice struct {
	client  *http.Client
	url     string
	safeURL string // url without query string or userinfo, for messages
	query   string // the raw query, to scrub from errors that echo it
	host    string

	mu   sync.Mutex
	uuid string // the first GPU's UUID at the last scrape
}

// NewMetricsDevice returns a Device that scrapes url with client (nil means
// http.DefaultClient).
func NewMetricsDevice(client *http.Client, rawURL string) *MetricsDevice {
	if client == nil {
		client = http.DefaultClient
	}
	d := &MetricsDevice{client: client, url: rawURL}
	if u, err := url.Parse(rawURL); err == nil {
		d.query = u.RawQuery
		d.host = u.Host
		u.User = nil
		u.RawQuery = ""
		u.ForceQuery = false
		u.Fragment = ""
		u.RawFragment = ""
		d.safeURL = u.String()
	} else {
		// Unparsable: name it only by what precedes any query or userinfo.
		s, _, _ := strings.Cut(rawURL, "?")
		if i := strings.LastIndex(s, "@"); i >= 0 {
			if j := strings.Index(s, "//"); j >= 0 && j < i {
				s = s[:j+2] + s[i+1:]
			}
		}
		d.safeURL = s
		d.host = s
	}
	return d
}

// Info describes the endpoint as of the last scrape.
func (d *MetricsDevice) Info() DeviceInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return DeviceInfo{Index: -1, UUID: d.uuid, Name: "server metrics " + d.host}
}

// Sample scrapes the endpoint once. Memory is summed over GPUs, utilisation
// averaged, and the SM clock is the lowest (the GPU holding the others back).
func (d *MetricsDevice) Sample() (Sample, error) {
	gpus, err := d.scrape()
	if err != nil {
		return Sample{}, d.scrub(err)
	}
	d.mu.Lock()
	d.uuid = gpus[0].UUID
	d.mu.Unlock()

	s := Sample{UtilisationPct: -1, MemoryUsedBytes: -1}
	var utilSum float64
	var utilN int
	for _, g := range gpus {
		if g.MemoryUsedBytes >= 0 {
			if s.MemoryUsedBytes < 0 {
				s.MemoryUsedBytes = 0
			}
			s.MemoryUsedBytes = addCapped(s.MemoryUsedBytes, g.MemoryUsedBytes)
		}
		if g.UtilisationPct >= 0 {
			utilSum += g.UtilisationPct
			utilN++
		}
		if g.SMClockMHz > 0 && (s.SMClockMHz == 0 || g.SMClockMHz < s.SMClockMHz) {
			s.SMClockMHz = g.SMClockMHz
		}
	}
	if utilN > 0 {
		s.UtilisationPct = utilSum / float64(utilN)
	}
	return s, nil
}

func (d *MetricsDevice) scrape() ([]MetricGPU, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return nil, fmt.Errorf("GPU metrics %s: bad URL", d.safeURL)
	}
	// Ask for the text format: expfmt's text parser reads nothing else.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := d.client.Do(req)
	if err != nil {
		// *url.Error repeats the full URL, token included; keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GPU metrics %s: %v", d.safeURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("GPU metrics %s: HTTP %s", d.safeURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetricsBody+1))
	if err != nil {
		return nil, fmt.Errorf("GPU metrics %s: reading body: %v", d.safeURL, err)
	}
	if len(body) > maxMetricsBody {
		return nil, fmt.Errorf("GPU metrics %s: body larger than %d MiB", d.safeURL, maxMetricsBody>>20)
	}
	gpus, err := ParseMetrics(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("GPU metrics %s: %v", d.safeURL, err)
	}
	return gpus, nil
}

// scrub removes the query string from err's message should anything below
// have echoed it, and keeps the message to one line.
func (d *MetricsDevice) scrub(err error) error {
	msg := err.Error()
	if d.query != "" && strings.Contains(msg, d.query) {
		msg = strings.ReplaceAll(msg, d.query, "REDACTED")
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}
