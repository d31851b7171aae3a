package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/infergate/infergate/internal/errkind"
)

// The config file (infergate.yaml) says what the flags say: each key is a
// flag's name without the dashes, and a flag given on the command line
// overrides the file. A list of model pairs (pairs:) runs the gate once
// per pair. Parsing is strict: a key no command knows is an error naming
// it and its line, so a typo never silently drops a check.

// defaultConfigName is the file read from the working directory when no
// --config is given.
const defaultConfigName = "infergate.yaml"

// configFile is a parsed config: its top-level settings and its pairs.
type configFile struct {
	path     string
	settings []configSetting
	pairs    []configPair
}

// configSetting is one key's value, as flag values: a scalar gives one,
// a list or a map (input-map: {ids: input_ids}) several.
type configSetting struct {
	key    string
	values []string
	line   int
}

// configPair is one entry of pairs: a name and the settings that differ
// from the top level's.
type configPair struct {
	name     string
	settings []configSetting
	line     int
}

// flagAliases are flags with two names; the config may use either, and a
// command line that gives either overrides the config's.
var flagAliases = map[string]string{
	"candidate": "model-path", "model-path": "candidate",
	"production": "reference-path", "reference-path": "production",
}

// configOnlyKeys are keys that are not flags.
const keyPairs, keyName = "pairs", "name"

// configFlags are the flags of the commands that read a config (run and
// calibrate share run's; bench has its own), by name.
func configFlags(e *env) map[string]*pflag.Flag {
	flags := map[string]*pflag.Flag{}
	for _, c := range []*cobra.Command{newRunCmd(e), newBenchCmd(e)} {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "config" && f.Name != "help" && !f.Hidden {
				flags[f.Name] = f
			}
		})
	}
	return flags
}

// knownConfigKeys are the keys a config may use; any other is a typo.
func knownConfigKeys(e *env) map[string]bool {
	keys := map[string]bool{}
	for name := range configFlags(e) {
		keys[name] = true
	}
	return keys
}

// findConfig returns the config to read: --config, else infergate.yaml in
// the working directory when there is one, else "".
func findConfig(fs *pflag.FlagSet) (string, error) {
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		return f.Value.String(), nil
	}
	if st, err := os.Stat(defaultConfigName); err == nil && !st.IsDir() {
		return defaultConfigName, nil
	}
	return "", nil
}

// readConfig parses a config file strictly.
func readConfig(e *env, path string) (*configFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errkind.Input(fmt.Errorf("--config: %w", err))
	}
	return parseConfig(path, data, knownConfigKeys(e))
}

func parseConfig(path string, data []byte, known map[string]bool) (*configFile, error) {
	bad := func(line int, format string, args ...any) error {
		return errkind.Input(fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...)))
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &configFile{path: path}, nil // an empty file says nothing
		}
		return nil, errkind.Input(fmt.Errorf("%s: %s", path, firstLine(err.Error())))
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, bad(root.Line, "want a mapping of settings (flag names without the dashes), e.g. `dataset: test.parquet`")
	}
	cfg := &configFile{path: path}
	settings, pairsNode, err := readSettings(root, known, bad, true)
	if err != nil {
		return nil, err
	}
	cfg.settings = settings
	if pairsNode != nil {
		if pairsNode.Kind != yaml.SequenceNode || len(pairsNode.Content) == 0 {
			return nil, bad(pairsNode.Line, "pairs: want a list of model pairs, each with a name")
		}
		seen := map[string]int{}
		for _, item := range pairsNode.Content {
			if item.Kind != yaml.MappingNode {
				return nil, bad(item.Line, "pairs: each pair is a mapping (name:, candidate:, production:, …)")
			}
			ps, _, err := readSettings(item, known, bad, false)
			if err != nil {
				return nil, err
			}
			p := configPair{line: item.Line}
			for _, s := range ps {
				if s.key == keyName {
					p.name = s.values[0]
					continue
				}
				p.settings = append(p.settings, s)
			}
			if p.name == "" || strings.ContainsAny(p.name, "/\\ \t") {
				return nil, bad(item.Line, "pairs: each pair needs a name (no spaces or slashes: it names its report files)")
			}
			if first, dup := seen[p.name]; dup {
				return nil, bad(item.Line, "pairs: %q is also the name of the pair at line %d", p.name, first)
			}
			seen[p.name] = item.Line
			cfg.pairs = append(cfg.pairs, p)
		}
	}
	return cfg, nil
}

// readSettings reads a mapping of settings. At the top level it returns
// the pairs node apart; in a pair, "name" is a setting.
func readSettings(m *yaml.Node, known map[string]bool, bad func(int, string, ...any) error, top bool) ([]configSetting, *yaml.Node, error) {
	var out []configSetting
	var pairs *yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := strings.TrimPrefix(k.Value, "--")
		if first, dup := seen[key]; dup {
			return nil, nil, bad(k.Line, "%s is also set at line %d", key, first)
		}
		seen[key] = k.Line
		switch {
		case top && key == keyPairs:
			pairs = v
			continue
		case !top && key == keyName:
		case !known[key]:
			return nil, nil, bad(k.Line, "unknown key %q%s", k.Value, suggest(key, known))
		}
		values, err := settingValues(key, v)
		if err != nil {
			return nil, nil, bad(v.Line, "%s: %v", key, err)
		}
		out = append(out, configSetting{key: key, values: values, line: k.Line})
	}
	return out, pairs, nil
}

// settingValues turns a YAML value into flag values.
func settingValues(key string, v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return nil, errors.New("no value")
		}
		return []string{v.Value}, nil
	case yaml.SequenceNode:
		var out []string
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, errors.New("want a list of plain values")
			}
			out = append(out, item.Value)
		}
		return out, nil
	case yaml.MappingNode:
		// name: value pairs, for the NAME=VALUE flags (input-map, fill,
		// header, output-map, …).
		var out []string
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			if k.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode {
				return nil, errors.New("want name: value entries")
			}
			sep := "="
			if key == "header" {
				sep = ": "
			}
			out = append(out, k.Value+sep+val.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value")
}

// suggest names the known key closest to a mistyped one.
func suggest(key string, known map[string]bool) string {
	best, bestD := "", 3
	for k := range known {
		if d := editDistance(key, k); d < bestD || (d == bestD && best != "" && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return " (keys are flag names without the dashes; see `infergate run --help`)"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// loadConfig reads the config the command line names, or the working
// directory's infergate.yaml; nil when there is none.
func loadConfig(e *env, fs *pflag.FlagSet) (*configFile, error) {
	path, err := findConfig(fs)
	if err != nil || path == "" {
		return nil, err
	}
	return readConfig(e, path)
}

// topSettings are the settings outside pairs; none for a nil config.
func (c *configFile) topSettings() []configSetting {
	if c == nil {
		return nil
	}
	return c.settings
}

// namesModels reports whether the command line names the models itself,
// which then replace the config's pairs.
func namesModels(fs *pflag.FlagSet) bool {
	for _, n := range []string{"candidate", "model-path", "production", "reference-path", "candidate-url", "production-url"} {
		if fs.Changed(n) {
			return true
		}
	}
	return false
}

// runPairs runs the gate once per pair of the config, each pair's settings
// over the top level's, under the command line's. Reports get the pair's
// name (result-ranker.json). The exit code is the worst pair's: a
// regression over a failed run over an inconclusive one; bad input stops
// at once.
func runPairs(ctx context.Context, e *env, cli *pflag.FlagSet, cfg *configFile) (ExitCode, error) {
	worst := ExitPass
	for i, p := range cfg.pairs {
		o := &runOptions{}
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		o.registerRunCmd(fs)
		if err := copyChanged(cli, fs); err != nil {
			return 0, errkind.Input(err)
		}
		if err := cfg.apply(fs, p.settings, cfg.settings); err != nil {
			return 0, err
		}
		if err := suffixOutputs(fs, p.name); err != nil {
			return 0, errkind.Input(err)
		}
		if i > 0 {
			fmt.Fprintln(e.Stdout)
		}
		fmt.Fprintf(e.Stdout, "== pair %s (%d of %d)\n", p.name, i+1, len(cfg.pairs))
		code, err := o.runParsed(ctx, e, fs)
		if err != nil {
			code = exitCodeFor(err, "", false)
			if code == ExitBadInput || code == ExitInterrupted {
				return 0, fmt.Errorf("pair %s: %w", p.name, err)
			}
			fmt.Fprintf(e.Stderr, "infergate: pair %s: %s\n", p.name, firstLine(err.Error()))
		}
		if code == ExitInterrupted {
			return code, nil
		}
		worst = worseExit(worst, code)
	}
	return worst, nil
}

// worseExit orders exit codes as verdicts are ordered: a regression, then
// a failed run, then an inconclusive check asked to fail, then a pass.
func worseExit(a, b ExitCode) ExitCode {
	rank := map[ExitCode]int{ExitPass: 0, ExitInconclusive: 1, ExitRunFailed: 2, ExitRegression: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// apply sets each setting on fs, unless the command line gave the flag
// (or its alias) or an earlier layer set it. Settings of flags fs does
// not have (bench's model in a run) are skipped: one file serves every
// command.
func (c *configFile) apply(fs *pflag.FlagSet, layers ...[]configSetting) error {
	if c == nil {
		return nil
	}
	fromConfig := map[string]bool{}
	for _, layer := range layers {
		for _, s := range layer {
			f := fs.Lookup(s.key)
			if f == nil || fromConfig[s.key] {
				continue
			}
			if alias, ok := flagAliases[s.key]; ok && (fromConfig[alias] || fs.Changed(alias)) {
				continue
			}
			if fs.Changed(s.key) {
				continue
			}
			if len(s.values) > 1 && !isListFlag(f) {
				if !isCommaList(f) {
					return errkind.Input(fmt.Errorf("%s:%d: %s takes one value, not a list", c.path, s.line, s.key))
				}
				s.values = []string{strings.Join(s.values, ",")}
			}
			for _, v := range s.values {
				if err := fs.Set(s.key, v); err != nil {
					return errkind.Input(fmt.Errorf("%s:%d: %s: %s", c.path, s.line, s.key, firstLine(err.Error())))
				}
			}
			fromConfig[s.key] = true
		}
	}
	return nil
}

// isListFlag reports whether a flag takes repeated values.
func isListFlag(f *pflag.Flag) bool {
	_, ok := f.Value.(pflag.SliceValue)
	return ok
}

// isCommaList reports whether a string flag reads a comma-separated list
// (the sweeps), which a YAML list may spell.
func isCommaList(f *pflag.Flag) bool {
	return slices.Contains([]string{"concurrency-sweep", "rate-sweep", "batch-sizes"}, f.Name)
}

// copyChanged sets on dst every flag the command line set on src.
func copyChanged(src, dst *pflag.FlagSet) error {
	var err error
	src.Visit(func(f *pflag.Flag) {
		if err != nil || dst.Lookup(f.Name) == nil {
			return
		}
		values := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
		}
		for _, v := range values {
			if e := dst.Set(f.Name, v); e != nil {
				err = e
				return
			}
		}
	})
	return err
}

// suffixOutputs gives each report file of a pair its own name:
// out/result.json → out/result-ranker.json.
func suffixOutputs(fs *pflag.FlagSet, pair string) error {
	for _, format := range fileFormats {
		f := fs.Lookup(format.flag)
		if f == nil || f.Value.String() == "" {
			continue
		}
		p := f.Value.String()
		ext := ""
		if i := strings.LastIndexByte(p, '.'); i > strings.LastIndexByte(p, '/') {
			p, ext = p[:i], p[i:]
		}
		if err := fs.Set(format.flag, p+"-"+pair+ext); err != nil {
			return err
		}
	}
	return nil
}

// configSchema is a JSON Schema (draft 2020-12) of the config file, for
// editors: every key with its flag's description, pairs with the same
// keys. docs/infergate.schema.json holds it; a test keeps it current.
func configSchema(e *env) map[string]any {
	flags := configFlags(e)
	props := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		f := flags[name]
		p := map[string]any{"description": f.Usage}
		switch f.Value.Type() {
		case "bool":
			p["type"] = "boolean"
		case "int", "int64":
			p["type"] = "integer"
		case "float64":
			p["type"] = "number"
		case "stringArray", "stringSlice":
			p["anyOf"] = []any{
				map[string]any{"type": "string"},
				map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
				map[string]any{"type": "object", "additionalProperties": map[string]any{"type": []string{"string", "number", "boolean"}}},
			}
		default:
			if isCommaList(f) {
				p["anyOf"] = []any{
					map[string]any{"type": "string"},
					map[string]any{"type": "array", "items": map[string]any{"type": []string{"number", "string"}}},
				}
			} else {
				// Ratios and sizes read as numbers in YAML: 1.15, 100.
				p["type"] = []string{"string", "number"}
			}
		}
		if d := f.DefValue; d != "" && d != "[]" && d != "false" && d != "0" {
			p["default"] = d
		}
		props[name] = p
	}
	pairProps := map[string]any{"name": map[string]any{"type": "string", "pattern": `^[^/\\ \t]+$`, "description": "names the pair in the output and its report files (result-NAME.json)"}}
	maps.Copy(pairProps, props)
	all := maps.Clone(props)
	all[keyPairs] = map[string]any{
		"description": "model pairs: the gate runs once per pair, each pair's settings over the top level's",
		"type":        "array",
		"minItems":    1,
		"items": map[string]any{
			"type":                 "object",
			"required":             []string{"name"},
			"properties":           pairProps,
			"additionalProperties": false,
		},
	}
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://github.com/infergate/infergate/docs/infergate.schema.json",
		"title":                "infergate.yaml",
		"description":          "infergate's config: each key is a flag of `infergate run` or `bench` without the dashes; flags on the command line override it.",
		"type":                 "object",
		"properties":           all,
		"additionalProperties": false,
	}
}
