package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// FuzzParseConfig feeds arbitrary bytes as infergate.yaml: an error (one
// line, naming the file) or settings that apply to run's flags, never a
// panic.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"dataset: d.parquet\nmax-latency-increase: 1.15\n",
		"input-map: {a: b}\nconcurrency-sweep: [1, 2]\n",
		"pairs:\n  - name: x\n    candidate: a.onnx\n",
		"header:\n  Authorization: Bearer $T\n",
		"- a\n- b\n", "{", "dataset: &a x\nproduction: *a\n", "? [a]\n: b\n", "",
	} {
		f.Add([]byte(s))
	}
	known := knownConfigKeys(&env{})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig("infergate.yaml", data, known)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "infergate.yaml") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line naming the file", err)
			}
			return
		}
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		(&runOptions{}).registerRunCmd(fs)
		if err := cfg.apply(fs, cfg.settings); err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("apply error %q spans lines", err)
		}
		for _, p := range cfg.pairs {
			if p.name == "" {
				t.Fatal("a pair without a name")
			}
		}
	})
}
