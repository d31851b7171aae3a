// Package reportcheck reads infergate's reports the way their readers do:
// the HTML in headless Chromium (laid out and painted, offline), the
// Markdown through a GitHub-flavoured renderer. The report package's tests
// use it on fixtures, the command's end-to-end tests on a real run's
// files.
package reportcheck

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

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"
)

// ChromiumEnv names a Chromium (or Chrome) binary to use instead of the
// one found on PATH.
const ChromiumEnv = "INFERGATE_CHROMIUM"

// RequireChromium returns a Chromium to run. Without one the test skips,
// except under CI, where it fails: `make test` installs Chromium (`make
// chromium`), so a missing one there is a broken setup, not a choice.
func RequireChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(ChromiumEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (run `make chromium`, or set " + ChromiumEnv + ")"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browserWindow is tall enough for a whole report, so the screenshot
// holds every plot.
const browserWindow = "1280,9000"

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

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Plot is what the probe script measures of one plot in the laid-out
// page.
type Plot struct {
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

// Colours are the targets' series colours in the HTML report.
var Colours = map[string][3]uint8{"candidate": {0xc2, 0x41, 0x0c}, "production": {0x1d, 0x4e, 0xd8}}

// CheckHTML opens page (an HTML report's text) in headless Chromium, offline,
// and checks that it lays out wantPlots plots, each at least 300x150 px with
// at least two series drawn as lines, and that a screenshot shows both
// targets' colours inside every plot's box (their lines and marks, not just
// the legend). It returns the plots as laid out. On failure the screenshot
// is kept as keepShot, if given.
func CheckHTML(t *testing.T, chromium, page string, wantPlots int, keepShot string) []Plot {
	t.Helper()
	dir := t.TempDir()
	probed := filepath.Join(dir, "probed.html")
	i := strings.LastIndex(page, "</body>")
	if i < 0 {
		t.Fatal("no </body> in the report")
	}
	if err := os.WriteFile(probed, []byte(page[:i]+probeScript+page[i:]), 0o644); err != nil {
		t.Fatal(err)
	}
	plots := readProbe(t, headless(t, chromium, probed, "--dump-dom", "--virtual-time-budget=5000"))
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

	// Paint: the unmodified page, as a screenshot.
	plain := filepath.Join(dir, "report.html")
	if err := os.WriteFile(plain, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	headless(t, chromium, plain, "--screenshot="+shot)
	img := readPNG(t, shot)
	for _, p := range plots {
		box := image.Rect(int(p.X), int(p.Y), int(p.X+p.W), int(p.Y+p.H))
		for who, c := range Colours {
			// Drawn, each colour covers 800-1,300 pixels of a plot; the
			// legend alone, with the series hidden, about 100.
			if n := countColour(img, box, c); n < 400 {
				t.Errorf("plot %q: %d pixels of the %s colour painted in %v, want its line and marks (400 or more)", p.Title, n, who, box)
			}
		}
	}
	if t.Failed() && keepShot != "" {
		if b, err := os.ReadFile(shot); err == nil && os.WriteFile(keepShot, b, 0o644) == nil {
			t.Logf("screenshot kept in %s", keepShot)
		}
	}
	return plots
}

func readProbe(t *testing.T, dom []byte) []Plot {
	t.Helper()
	root, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	pres := All(root, func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "pre" && Attr(n, "id") == "infergate-probe"
	})
	if len(pres) != 1 {
		t.Fatalf("the probe script left no result in the DOM (did the page load?):\n%s", tail(string(dom), 2000))
	}
	var plots []Plot
	if err := json.Unmarshal([]byte(Text(pres[0])), &plots); err != nil {
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

// GFM is a Markdown report rendered the way GitHub renders a comment.
type GFM struct {
	Root *html.Node
	// Checks are the checks table's rows, each cell's text; nil when
	// there is no table headed "check".
	Checks [][]string
	// Charts are the mermaid code blocks' sources.
	Charts []string
	HTML   string
}

// CheckMarkdown renders md as GitHub does (CommonMark with the GFM
// extensions, raw HTML allowed) and checks what every report must render
// into: under 64 KiB; a verdict heading (h2) first, naming verdict; a
// checks table whose every row has the header's cell count; at least one
// mermaid xychart with lines; a <details> block; and marker kept as an
// invisible comment.
func CheckMarkdown(t *testing.T, md, verdict, marker string) GFM {
	t.Helper()
	if len(md) >= 64<<10 {
		t.Fatalf("comment is %d bytes, over 64 KiB", len(md))
	}
	gfm := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(gmhtml.WithUnsafe()))
	var out bytes.Buffer
	if err := gfm.Convert([]byte(md), &out); err != nil {
		t.Fatal(err)
	}
	g := GFM{HTML: out.String()}
	root, err := html.Parse(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	g.Root = root

	body := All(root, Element("body"))[0]
	first := body.FirstChild
	for first != nil && first.Type != html.ElementNode {
		first = first.NextSibling
	}
	if first == nil || first.Data != "h2" || !strings.Contains(Text(first), verdict) {
		t.Errorf("first element %s, want the verdict %s as an h2", describe(first), verdict)
	}

	for _, table := range All(root, Element("table")) {
		ths := All(table, Element("th"))
		if len(ths) == 0 || Text(ths[0]) != "check" {
			continue
		}
		for _, tr := range All(table, Element("tr"))[1:] {
			tds := All(tr, Element("td"))
			if len(tds) != len(ths) {
				t.Errorf("checks row %q has %d cells, header %d", Text(tr), len(tds), len(ths))
				continue
			}
			var row []string
			for _, td := range tds {
				row = append(row, Text(td))
			}
			g.Checks = append(g.Checks, row)
		}
		break
	}
	if g.Checks == nil {
		t.Errorf("no checks table in the rendered comment:\n%s", g.HTML)
	}

	for _, code := range All(root, Element("code")) {
		if Attr(code, "class") != "language-mermaid" {
			continue
		}
		src := Text(code)
		g.Charts = append(g.Charts, src)
		if !strings.HasPrefix(src, "xychart-beta\n") || !strings.Contains(src, "line [") {
			t.Errorf("mermaid block is not an xychart with lines:\n%s", src)
		}
	}
	if len(g.Charts) == 0 {
		t.Error("no mermaid chart rendered")
	}
	if len(All(root, Element("details"))) == 0 {
		t.Error("no <details> block")
	}
	var kept bool
	for _, c := range All(root, func(n *html.Node) bool { return n.Type == html.CommentNode }) {
		kept = kept || "<!--"+c.Data+"-->" == marker
	}
	if !kept || strings.Contains(Text(root), strings.Trim(marker, "<!-> ")) {
		t.Errorf("marker %q not kept as an invisible comment", marker)
	}
	return g
}

func describe(n *html.Node) string {
	if n == nil {
		return "none"
	}
	return "<" + n.Data + "> " + Text(n)
}

// All returns the nodes under n (n included) that match, in document order.
func All(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// Element matches elements named tag.
func Element(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Type == html.ElementNode && n.Data == tag }
}

// Attr is n's attribute key, "" when absent.
func Attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// Text is the text under n.
func Text(n *html.Node) string {
	var b strings.Builder
	for _, t := range All(n, func(n *html.Node) bool { return n.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}
