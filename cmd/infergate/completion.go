package main

import (
	"github.com/spf13/cobra"

	"github.com/infergate/infergate/bench"
)

// flagValues are the values shell completion offers for enumerated flags.
var flagValues = map[string][]string{
	"device":             {"cpu", "cuda", "tensorrt"},
	"on-inconclusive":    {inconclusivePass, inconclusiveWarn, inconclusiveFail},
	"latency-percentile": {"p50", "p90", "p95", "p99", "p99.9"},
	"protocol":           bench.Protocols,
	"graph-optimization": bench.GraphOptimizationLevels,
	"arrival":            {"constant", "poisson"},
	"tf-format":          {"instances", "inputs"},
}

// flagFileExts are the file name extensions shell completion offers for
// flags that name a file.
var flagFileExts = map[string][]string{
	"dataset":        {"parquet"},
	"candidate":      {"onnx"},
	"model-path":     {"onnx"},
	"production":     {"onnx"},
	"reference-path": {"onnx"},
	"model":          {"onnx"},
	"ort-lib":        {"so", "so.1", "dylib"},
	"config":         {"yaml", "yml"},
}

// argFileExts are the extensions of the positional arguments of commands
// that read saved results.
var argFileExts = map[string][]string{
	"compare": {"json"},
	"merge":   {"json"},
	"report":  {"json"},
}

// registerCompletions adds shell completion for the flags of c (and its
// subcommands) that take a value from a fixed set or name a file. Flags a
// command lacks are skipped, so every command can be passed.
func registerCompletions(c *cobra.Command) {
	fs := c.Flags()
	for name, values := range flagValues {
		if fs.Lookup(name) == nil {
			continue
		}
		_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	for name, exts := range flagFileExts {
		if fs.Lookup(name) == nil {
			continue
		}
		_ = c.MarkFlagFilename(name, exts...)
	}
	if exts, ok := argFileExts[c.Name()]; ok && c.ValidArgsFunction == nil {
		c.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return exts, cobra.ShellCompDirectiveFilterFileExt
		}
	}
	for _, sub := range c.Commands() {
		registerCompletions(sub)
	}
}
