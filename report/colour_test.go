package report

import (
	"bytes"
	"strings"
	"testing"
)

// Colour is opt-in: without it the table is the goldens' bytes, with it
// only the verdict word and the warning prefixes gain ANSI codes.
func TestTableColour(t *testing.T) {
	fx := fixtures(t)
	for name, want := range map[string]string{
		"pair_fail":   "verdict: \x1b[31mFAIL\x1b[0m (",
		"pair_pass":   "verdict: \x1b[32mPASS\x1b[0m (",
		"interrupted": "verdict: \x1b[33mINCONCLUSIVE\x1b[0m",
		"error":       "verdict: \x1b[31mERROR\x1b[0m",
	} {
		var plain, off, on bytes.Buffer
		if err := NewTable(fx[name]).Report(&plain); err != nil {
			t.Fatal(err)
		}
		if err := NewTableWith(fx[name], TableOptions{}).Report(&off); err != nil {
			t.Fatal(err)
		}
		if err := NewTableWith(fx[name], TableOptions{Colour: true}).Report(&on); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain.Bytes(), off.Bytes()) {
			t.Errorf("%s: colour off differs from NewTable", name)
		}
		if strings.Contains(plain.String(), "\x1b[") {
			t.Errorf("%s: ANSI codes without colour:\n%s", name, plain.String())
		}
		if !strings.Contains(on.String(), want) {
			t.Errorf("%s: coloured table lacks %q:\n%q", name, want, on.String())
		}
		// Stripped of its codes, the coloured table is the plain one.
		stripped := on.String()
		for _, c := range []string{ansiRed, ansiGreen, ansiYellow, ansiReset} {
			stripped = strings.ReplaceAll(stripped, c, "")
		}
		if stripped != plain.String() {
			t.Errorf("%s: coloured table differs beyond its colour codes", name)
		}
	}
	var on bytes.Buffer
	if err := NewTableWith(fx["pair_fail"], TableOptions{Colour: true}).Report(&on); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(on.String(), "\x1b[33mwarning:\x1b[0m the machine") {
		t.Errorf("warnings are not coloured:\n%q", on.String())
	}
}
