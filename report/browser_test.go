package report

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// Browser checks: the HTML report of a failing run, opened in headless
// Chromium with the network shut, must lay out and paint every plot. The
// DOM checks in formats_test.go read the markup; these read what a browser
// makes of it.

// chromiumEnv names a Chromium (or Chrome) binary to use instead of the
// one found on PATH.
const chromiumEnv = "INFERGATE_CHROMIUM"

// requireChromium returns a Chromium to run. Without one the test skips,
// except under CI, where it fails: `make test` installs Chromium (`make
// chromium`), so a missing one there is a broken setup, not a choice.
func requireChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(chromiumEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (run `make chromium`, or set " + chromiumEnv + ")"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// headless runs Chromium on a local file with the network shut and returns
// its standard output.
func headless(t *testing.T, chromium, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-quic", "--disable-extensions",
		// Offline: no name resolves, so any fetch the page tried would fail.
		"--host-resolver-rules=MAP * ~NOTFOUND",
		"--user-data-dir=" + t.TempDir(),
		"--window-size=" + browserWindow, "--force-device-scale-factor=1", "--hide-scrollbars",
	}
	cmd := exec.CommandContext(ctx, chromium, append(append(base, args...), "file://"+page)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", chromium, err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes()
}

// browserWindow is tall enough for the whole report, so the screenshot
// holds every plot.
const browserWindow = "1280,9000"

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// plotProbe is what the probe script measures of each plot in the laid-out
// page.
type plotProbe struct {
	Title  string  `json:"title"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	W      float64 `json:"w"`
	H      float64 `json:"h"`
	Series []struct {
		Stroke string  `json:"stroke"`
		Length float64 `json:"length"` // the polyline's rendered length, px
	} `json:"series"`
	Visible bool `json:"visible"`
}

// probeScript measures every plot once the page has laid out and writes
// the numbers into the page, where --dump-dom prints them.
const probeScript = `<script>
window.addEventListener('load', () => {
  const out = [];
  for (const svg of document.querySelectorAll('svg.plot')) {
    const r = svg.getBoundingClientRect();
    const st = getComputedStyle(svg);
    out.push({
      title: (svg.querySelector('title') || {}).textContent || '',
      x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height,
      visible: st.display !== 'none' && st.visibility !== 'hidden' && st.opacity !== '0',
      series: [...svg.querySelectorAll('g.series polyline')].map(p => ({
        stroke: getComputedStyle(p).stroke, length: p.getTotalLength(),
      })),
    });
  }
  const pre = document.createElement('pre');
  pre.id = 'infergate-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>`

func TestHTMLInChromium(t *testing.T) {
	chromium := requireChromium(t)
	dir := t.TempDir()
	r := fixtures(t)["pair_fail"]
	page := render(t, NewHTML, r)

	// Layout: every plot has a box, and every series a drawn line.
	probed := filepath.Join(dir, "probed.html")
	i := strings.LastIndex(page, "</body>")
	if i < 0 {
		t.Fatal("no </body> in the report")
	}
	if err := os.WriteFile(probed, []byte(page[:i]+probeScript+page[i:]), 0o644); err != nil {
		t.Fatal(err)
	}
	plots := readProbe(t, headless(t, chromium, probed, "--dump-dom", "--virtual-time-budget=5000"))
	wantPlots := 3 // percentiles, rounds, input sizes
	if len(plots) != wantPlots {
		t.Fatalf("Chromium laid out %d plots, want %d: %+v", len(plots), wantPlots, plots)
	}
	for _, p := range plots {
		if !p.Visible || p.W < 300 || p.H < 150 {
			t.Errorf("plot %q: %.0fx%.0f px, visible %v", p.Title, p.W, p.H, p.Visible)
		}
		if len(p.Series) < 2 {
			t.Errorf("plot %q: %d series, want one per target at least", p.Title, len(p.Series))
		}
		for _, s := range p.Series {
			if s.Length < 20 || s.Stroke == "" || s.Stroke == "none" {
				t.Errorf("plot %q: a series of length %.1f px, stroke %q", p.Title, s.Length, s.Stroke)
			}
		}
	}

	// Paint: the unmodified page, as a screenshot; inside each plot's box
	// both targets' colours are on screen.
	plain := filepath.Join(dir, "report.html")
	if err := os.WriteFile(plain, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	headless(t, chromium, plain, "--screenshot="+shot)
	img := readPNG(t, shot)
	colours := map[string][3]uint8{"candidate": {0xc2, 0x41, 0x0c}, "production": {0x1d, 0x4e, 0xd8}}
	for _, p := range plots {
		box := image.Rect(int(p.X), int(p.Y), int(p.X+p.W), int(p.Y+p.H))
		for who, c := range colours {
			// Drawn, each colour covers 800-1,300 pixels of a plot; the
			// legend alone, with the series hidden, about 100.
			if n := countColour(img, box, c); n < 400 {
				t.Errorf("plot %q: %d pixels of the %s colour painted in %v, want its line and marks (400 or more)", p.Title, n, who, box)
			}
		}
	}
	if t.Failed() {
		keep := filepath.Join("testdata", "chromium.png.got")
		if b, err := os.ReadFile(shot); err == nil && os.WriteFile(keep, b, 0o644) == nil {
			t.Logf("screenshot kept in %s", keep)
		}
	}
}

func readProbe(t *testing.T, dom []byte) []plotProbe {
	t.Helper()
	root, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	pres := within(root, func(n *html.Node) bool {
		id, _ := attr(n, "id")
		return n.Type == html.ElementNode && n.Data == "pre" && id == "infergate-probe"
	})
	if len(pres) != 1 {
		t.Fatalf("the probe script left no result in the DOM (did the page load?):\n%s", tail(string(dom), 2000))
	}
	var plots []plotProbe
	if err := json.Unmarshal([]byte(text(pres[0])), &plots); err != nil {
		t.Fatalf("probe: %v", err)
	}
	return plots
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("Chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return img
}

// countColour counts the pixels in box within a small distance of c
// (anti-aliasing blends a line's edges, not its middle).
func countColour(img image.Image, box image.Rectangle, c [3]uint8) int {
	box = box.Intersect(img.Bounds())
	n := 0
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near(r>>8, c[0]) && near(g>>8, c[1]) && near(b>>8, c[2]) {
				n++
			}
		}
	}
	return n
}

func near(v uint32, want uint8) bool {
	d := int(v) - int(want)
	return d >= -12 && d <= 12
}
