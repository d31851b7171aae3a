package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/report"
	"github.com/infergate/infergate/result"
)

// outputFlags are where a command writes its reports besides the table on
// stdout: one file per format, each written atomically, and an optional
// Pushgateway.
type outputFlags struct {
	JSONPath        string
	MarkdownPath    string
	JUnitPath       string
	HTMLPath        string
	OpenMetricsPath string
	Pushgateway     string
	// jsonFlag names the JSON path's flag in messages: "json", or merge's
	// "output" when that is the name that was used.
	jsonFlag string
}

// flagName is how messages name format f's flag.
func (o *outputFlags) flagName(f fileFormat) string {
	if f.flag == "json" && o.jsonFlag != "" {
		return o.jsonFlag
	}
	return f.flag
}

// fileFormat is one report file a command can write.
type fileFormat struct {
	flag  string
	usage string
	path  func(*outputFlags) *string
	new   func(*result.Result) report.Reporter
}

// fileFormats are the report files, in the order they are written.
var fileFormats = []fileFormat{
	{"json", "write the result JSON to this `file`", func(o *outputFlags) *string { return &o.JSONPath }, report.NewJSON},
	{"markdown", "write a Markdown report (for a pull-request comment) to this `file`", func(o *outputFlags) *string { return &o.MarkdownPath }, report.NewMarkdown},
	{"junit", "write a JUnit XML report (one test case per check) to this `file`", func(o *outputFlags) *string { return &o.JUnitPath }, report.NewJUnit},
	{"html", "write a self-contained HTML report to this `file`", func(o *outputFlags) *string { return &o.HTMLPath }, report.NewHTML},
	{"openmetrics", "write the result as OpenMetrics text to this `file`", func(o *outputFlags) *string { return &o.OpenMetricsPath }, report.NewOpenMetrics},
}

func (o *outputFlags) register(fs *pflag.FlagSet) {
	for _, f := range fileFormats {
		fs.StringVar(f.path(o), f.flag, "", f.usage)
	}
	fs.StringVar(&o.Pushgateway, "pushgateway", "", "PUT the OpenMetrics report to this Prometheus Pushgateway `URL` (job infergate)")
}

// validate fails before anything runs when a report could not be written
// later: an unwritable place, a directory, two formats into one file, or a
// Pushgateway address that is not an http(s) URL.
func (o *outputFlags) validate() error {
	seen := map[string]string{}
	for _, f := range fileFormats {
		p := *f.path(o)
		if p == "" {
			continue
		}
		if err := checkWritable(o.flagName(f), p); err != nil {
			return err
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = filepath.Clean(p)
		}
		if other, dup := seen[abs]; dup {
			return errkind.Input(fmt.Errorf("--%s and --%s both write %s: give each report its own file", other, o.flagName(f), p))
		}
		seen[abs] = o.flagName(f)
	}
	if o.Pushgateway != "" {
		u, err := url.Parse(o.Pushgateway)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errkind.Input(fmt.Errorf("--pushgateway %q: want an http(s) URL such as http://pushgateway:9091", o.Pushgateway))
		}
	}
	return nil
}

// writeReports writes every requested report file, then the terminal table
// on stdout, then what GitHub Actions reads (annotations after the table,
// the step summary, the step's outputs) and the Pushgateway push.
//
// Every report is rendered in full before anything is written, so a
// rendering error leaves neither a file nor half a table; each file is
// written atomically.
func writeReports(e *env, res *result.Result, out outputFlags) error {
	rendered := make([][]byte, len(fileFormats))
	for i, f := range fileFormats {
		if *f.path(&out) == "" {
			continue
		}
		var buf bytes.Buffer
		if err := f.new(res).Report(&buf); err != nil {
			return errkind.Run(fmt.Errorf("%s report: %w", f.flag, err))
		}
		rendered[i] = buf.Bytes()
	}
	var table bytes.Buffer
	if err := report.NewTableWith(res, report.TableOptions{Colour: useColour(e, e.Stdout)}).Report(&table); err != nil {
		return errkind.Run(err)
	}
	for i, f := range fileFormats {
		path := *f.path(&out)
		if path == "" {
			continue
		}
		if err := writeFileAtomic(path, rendered[i]); err != nil {
			return errkind.Input(fmt.Errorf("--%s %s: %w", out.flagName(f), path, err))
		}
	}
	table.Write(annotations(e, res))
	if _, err := e.Stdout.Write(table.Bytes()); err != nil {
		return errkind.Run(fmt.Errorf("write report: %w", err))
	}
	publishGitHub(e, res, out)
	if out.Pushgateway != "" {
		if err := pushMetrics(out.Pushgateway, res); err != nil {
			warnf(e, "--pushgateway: %v", err)
		}
	}
	return nil
}

// warnf prints a warning that does not change the exit code.
func warnf(e *env, format string, args ...any) {
	word := "warning:"
	if useColour(e, e.Stderr) {
		word = "\x1b[33mwarning:\x1b[0m"
	}
	fmt.Fprintf(e.Stderr, "infergate: %s %s\n", word, firstLine(fmt.Sprintf(format, args...)))
}

// writeFileAtomic writes through a temporary file and a rename, so a killed
// run never leaves half a result for a later compare to trust.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	name := tmp.Name()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Chmod(name, 0o644); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// checkWritable fails early, before anything is measured, when an output
// file could not be written later.
func checkWritable(flag, path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errkind.Input(fmt.Errorf("--%s %s: %w", flag, path, err))
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return errkind.Input(fmt.Errorf("--%s %s is a directory", flag, path))
	}
	f, err := os.CreateTemp(dir, ".infergate-check-*")
	if err != nil {
		return errkind.Input(fmt.Errorf("--%s %s: cannot write there: %w", flag, path, err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// readResultFile reads a saved result document. Anything that is not a
// result this infergate can read is bad input (exit 2), with one line that
// names the file.
func readResultFile(path string) (*result.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errkind.Input(err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, errkind.Input(fmt.Errorf("%s is a directory, not a result file", path))
	}
	r, err := result.Read(f)
	if err != nil {
		// result.ErrSchema: not JSON, not a result, or a schema_version
		// newer than this build reads.
		return nil, errkind.Input(fmt.Errorf("%s: %w", path, err))
	}
	if r.Tool.Name != "infergate" {
		name := r.Tool.Name
		if name == "" {
			name = "no tool.name"
		} else {
			name = "tool.name " + fmt.Sprintf("%q", name)
		}
		return nil, errkind.Input(fmt.Errorf("%s: %v: %s", path, result.ErrSchema, name))
	}
	if len(r.Targets) == 0 {
		return nil, errkind.Input(fmt.Errorf("%s: the result has no targets", path))
	}
	return r, nil
}

// oneLine flattens a message for places that take a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
