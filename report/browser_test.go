package report

import (
	"path/filepath"
	"testing"

	"github.com/infergate/infergate/internal/reportcheck"
)

// TestHTMLInChromium: the HTML report of a failing run, opened in headless
// Chromium with the network shut, lays out and paints every plot. The DOM
// checks in formats_test.go read the markup; this reads what a browser
// makes of it.
func TestHTMLInChromium(t *testing.T) {
	chromium := reportcheck.RequireChromium(t)
	page := render(t, NewHTML, fixtures(t)["pair_fail"])
	// Percentiles, rounds, input sizes.
	reportcheck.CheckHTML(t, chromium, page, 3, filepath.Join("testdata", "chromium.png.got"))
}
