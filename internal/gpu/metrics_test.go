package gpu

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

const tritonText = `# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="resnet",version="1"} 1234
# HELP nv_gpu_utilization GPU utilization rate [0.0 - 1.0)
# TYPE nv_gpu_utilization gauge
nv_gpu_utilization{gpu_uuid="GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"} 0.37
# HELP nv_gpu_memory_total_bytes GPU total memory, in bytes
# TYPE nv_gpu_memory_total_bytes gauge
nv_gpu_memory_total_bytes{gpu_uuid="GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"} 85520809984
# HELP nv_gpu_memory_used_bytes GPU used memory, in bytes
# TYPE nv_gpu_memory_used_bytes gauge
nv_gpu_memory_used_bytes{gpu_uuid="GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"} 2147483648
# HELP nv_gpu_power_usage GPU power usage in watts
# TYPE nv_gpu_power_usage gauge
nv_gpu_power_usage{gpu_uuid="GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"} 71.5
`

const dcgmText = `# HELP DCGM_FI_DEV_SM_CLOCK SM frequency (in MHz).
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-aaaa",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node1"} 1980
DCGM_FI_DEV_SM_CLOCK{gpu="1",UUID="GPU-bbbb",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node1"} 1410
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-aaaa",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node1"} 88
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-bbbb",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node1"} 12
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-aaaa",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node1"} 1024
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-bbbb",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node1"} 512
`

const infergateText = `gpu_memory_used_bytes 1000
gpu_utilization_percent 55.5
gpu_sm_clock_mhz 1500
`

func TestParseMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []MetricGPU
		err  string
	}{
		{"triton", tritonText, []MetricGPU{
			{UUID: "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6", MemoryUsedBytes: 2 << 30, UtilisationPct: 37, SMClockMHz: -1},
		}, ""},
		{"dcgm", dcgmText, []MetricGPU{
			{UUID: "GPU-aaaa", MemoryUsedBytes: 1024 << 20, UtilisationPct: 88, SMClockMHz: 1980},
			{UUID: "GPU-bbbb", MemoryUsedBytes: 512 << 20, UtilisationPct: 12, SMClockMHz: 1410},
		}, ""},
		{"infergate names, unlabelled", infergateText, []MetricGPU{
			{MemoryUsedBytes: 1000, UtilisationPct: 55.5, SMClockMHz: 1500},
		}, ""},
		{"infergate names, several GPUs", `
gpu_memory_used_bytes{gpu_uuid="GPU-b"} 20
gpu_memory_used_bytes{gpu_uuid="GPU-a"} 10
gpu_utilization_percent{gpu_uuid="GPU-a"} 100
gpu_sm_clock_mhz{gpu_uuid="GPU-c"} 900
`, []MetricGPU{
			{UUID: "GPU-a", MemoryUsedBytes: 10, UtilisationPct: 100, SMClockMHz: -1},
			{UUID: "GPU-b", MemoryUsedBytes: 20, UtilisationPct: -1, SMClockMHz: -1},
			{UUID: "GPU-c", MemoryUsedBytes: -1, UtilisationPct: -1, SMClockMHz: 900},
		}, ""},
		{"grouped by gpu index label, numerically", `
gpu_memory_used_bytes{gpu="10"} 1
gpu_memory_used_bytes{gpu="2"} 2
`, []MetricGPU{
			{MemoryUsedBytes: 2, UtilisationPct: -1, SMClockMHz: -1},
			{MemoryUsedBytes: 1, UtilisationPct: -1, SMClockMHz: -1},
		}, ""},
		{"DCGM MIG series of one GPU combine", `
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-aaaa",GPU_I_ID="1"} 100
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-aaaa",GPU_I_ID="2"} 28
DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-aaaa",GPU_I_ID="1"} 1500
DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-aaaa",GPU_I_ID="2"} 1400
`, []MetricGPU{
			{UUID: "GPU-aaaa", MemoryUsedBytes: 128 << 20, UtilisationPct: -1, SMClockMHz: 1400},
		}, ""},
		{"same quantity under two names is not added", `
nv_gpu_memory_used_bytes{gpu_uuid="GPU-a"} 1048576
DCGM_FI_DEV_FB_USED{UUID="GPU-a"} 1
DCGM_FI_DEV_GPU_UTIL{UUID="GPU-a"} 30
`, []MetricGPU{
			{UUID: "GPU-a", MemoryUsedBytes: 1 << 20, UtilisationPct: 30, SMClockMHz: -1},
		}, ""},
		{"bad values are unknown", `
gpu_memory_used_bytes NaN
gpu_utilization_percent 250
gpu_sm_clock_mhz -5
`, []MetricGPU{
			{MemoryUsedBytes: -1, UtilisationPct: -1, SMClockMHz: -1},
		}, ""},
		{"an invalid first name falls back to the next", `
nv_gpu_utilization{gpu_uuid="GPU-a"} +Inf
DCGM_FI_DEV_GPU_UTIL{UUID="GPU-a"} 40
`, []MetricGPU{
			{UUID: "GPU-a", MemoryUsedBytes: -1, UtilisationPct: 40, SMClockMHz: -1},
		}, ""},
		{"no GPU metrics", "nv_inference_request_success{model=\"m\"} 3\n", nil, "no GPU metrics"},
		{"empty", "", nil, "no GPU metrics"},
		{"junk", "<html><body>Not Found</body></html>\n", nil, "parsing metrics"},
		{"truncated", "gpu_memory_used_bytes{gpu_uuid=\"GPU-a\"", nil, "parsing metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMetrics(strings.NewReader(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseMetrics = %+v, %v; want error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMetrics =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestMetricsDevice(t *testing.T) {
	var body string
	var accept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept = r.Header.Get("Accept")
		if r.URL.Query().Get("token") != "SECRET" {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, body)
	}))
	defer srv.Close()

	d := NewMetricsDevice(srv.Client(), srv.URL+"/metrics?token=SECRET")
	host := strings.TrimPrefix(srv.URL, "http://")
	if got := d.Info(); got != (DeviceInfo{Index: -1, Name: "server metrics " + host}) {
		t.Errorf("Info() before any scrape = %+v", got)
	}

	body = dcgmText
	s, err := d.Sample()
	if err != nil {
		t.Fatal(err)
	}
	want := Sample{UtilisationPct: 50, SMClockMHz: 1410, MemoryUsedBytes: 1536 << 20}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Sample() = %+v, want %+v", s, want)
	}
	if !strings.HasPrefix(accept, "text/plain") {
		t.Errorf("Accept = %q; the text format is the one we parse", accept)
	}
	if got := d.Info(); got.UUID != "GPU-aaaa" || got.Index != -1 {
		t.Errorf("Info() after scrape = %+v", got)
	}

	// A page where some readings are missing aggregates what is there.
	body = `gpu_memory_used_bytes{gpu_uuid="GPU-x"} 10
gpu_utilization_percent{gpu_uuid="GPU-y"} 20
`
	s, err = d.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Sample{UtilisationPct: 20, SMClockMHz: 0, MemoryUsedBytes: 10}); !reflect.DeepEqual(s, want) {
		t.Errorf("Sample() = %+v, want %+v", s, want)
	}

	body = "nv_inference_count 1\n"
	if _, err := d.Sample(); err == nil || !strings.Contains(err.Error(), "no GPU metrics") {
		t.Errorf("Sample() of a page without GPUs: err = %v", err)
	}
}

func TestMetricsDeviceErrorsHideSecrets(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/junk":
			fmt.Fprint(w, "{not metrics")
		case "/big":
			chunk := strings.Repeat("# padding comment line\n", 1<<10)
			for i := 0; i < (maxMetricsBody/len(chunk))+2; i++ {
				fmt.Fprint(w, chunk)
			}
		}
	}))
	defer srv.Close()
	// A closed listener gives a transport error, whose *url.Error repeats the URL.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	userinfo := strings.Replace(srv.URL, "http://", "http://user:PASSWORD@", 1)
	for _, tc := range []struct {
		url, want string
	}{
		{srv.URL + "/500?token=SECRET", "HTTP 500 Internal Server Error"},
		{userinfo + "/500?token=SECRET", "HTTP 500"},
		{srv.URL + "/junk?token=SECRET", "parsing metrics"},
		{srv.URL + "/big?token=SECRET", "larger than 8 MiB"},
		{deadURL + "/metrics?token=SECRET", "GPU metrics " + deadURL + "/metrics:"},
	} {
		_, err := NewMetricsDevice(nil, tc.url).Sample()
		if err == nil {
			t.Errorf("%s: no error", tc.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) {
			t.Errorf("error %q does not contain %q", msg, tc.want)
		}
		if strings.Contains(msg, "SECRET") || strings.Contains(msg, "PASSWORD") || strings.Contains(msg, "token") {
			t.Errorf("error leaks the query string or userinfo: %q", msg)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("error is not one line: %q", msg)
		}
		if !strings.Contains(msg, "/") || !strings.Contains(msg, "127.0.0.1") {
			t.Errorf("error does not name the URL: %q", msg)
		}
	}
}

func TestNewMetricsDeviceUnparsableURL(t *testing.T) {
	d := NewMetricsDevice(nil, "http://user:PASSWORD@[::1/metrics?token=SECRET")
	_, err := d.Sample()
	if err == nil {
		t.Fatal("no error for an unparsable URL")
	}
	if msg := err.Error() + d.Info().Name; strings.Contains(msg, "SECRET") || strings.Contains(msg, "PASSWORD") {
		t.Errorf("leaks secrets: %q", msg)
	}
}

func FuzzParseMetrics(f *testing.F) {
	for _, s := range []string{
		tritonText, dcgmText, infergateText, "", "junk",
		"gpu_memory_used_bytes 1e300\n",
		"DCGM_FI_DEV_FB_USED 9e15\nDCGM_FI_DEV_FB_USED{gpu=\"0\"} 9e15\n",
		"gpu_sm_clock_mhz{gpu=\"1\"} 4294967296\n",
		"nv_gpu_utilization NaN\n",
		"# TYPE gpu_utilization_percent histogram\ngpu_utilization_percent_bucket{le=\"1\"} 1\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		gpus, err := ParseMetrics(strings.NewReader(text))
		if err != nil {
			if gpus != nil {
				t.Errorf("error %v with results %+v", err, gpus)
			}
			return
		}
		if len(gpus) == 0 {
			t.Error("no error and no GPUs")
		}
		for _, g := range gpus {
			if g.MemoryUsedBytes < -1 || g.SMClockMHz < -1 ||
				math.IsNaN(g.UtilisationPct) || math.IsInf(g.UtilisationPct, 0) ||
				(g.UtilisationPct < 0 && g.UtilisationPct != -1) || g.UtilisationPct > 100 {
				t.Errorf("out-of-range values: %+v", g)
			}
		}
	})
}
