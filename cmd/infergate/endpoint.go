package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/spf13/pflag"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// endpointFlags say how to reach and load a remote model; they apply to
// every --…-url of a run.
type endpointFlags struct {
	Protocol        string
	Headers         []string
	SecretHeaders   []string
	CACert          string
	Insecure        bool
	Timeout         time.Duration
	ReadyTimeout    time.Duration
	Rate            float64
	Arrival         string
	RequestTemplate string
	ResponsePath    string
	Method          string
	TFFormat        string
}

func (f *endpointFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Protocol, "protocol", "", "endpoint protocol: "+strings.Join(bench.Protocols, ", ")+" (default: inferred from the URL)")
	fs.StringArrayVar(&f.Headers, "header", nil, "send this header with every request: `'Name: value'`; $VAR and ${VAR} are read from the environment and never reported (repeatable)")
	fs.StringArrayVar(&f.SecretHeaders, "secret-header", nil, "treat the value of this header `name` as a secret too (every header value is redacted from reports and logs; repeatable)")
	fs.StringVar(&f.CACert, "ca-cert", "", "PEM file of certificate authorities to trust for https/grpcs endpoints")
	fs.BoolVar(&f.Insecure, "insecure", false, "skip TLS certificate verification (never in production)")
	fs.DurationVar(&f.Timeout, "timeout", bench.DefaultTimeout, "per-request timeout for endpoints")
	fs.DurationVar(&f.ReadyTimeout, "ready-timeout", bench.DefaultReadyTimeout, "how long to wait for an endpoint to report ready")
	fs.Float64Var(&f.Rate, "rate", 0, "open loop: start this many requests per second (latency counts from each request's intended start); 0 is a closed loop")
	fs.StringVar(&f.Arrival, "arrival", "constant", "open-loop arrivals: constant or poisson")
	fs.StringVar(&f.RequestTemplate, "request-template", "", "http protocol: Go text/template of the request body over the batch (.Row.COLUMN, .Rows, .Inputs.NAME, json); @FILE reads it from a file")
	fs.StringVar(&f.ResponsePath, "response-path", "", "http protocol: a dotted JSON path that must exist in every response, e.g. outputs.0.data")
	fs.StringVar(&f.Method, "method", "POST", "http protocol: request method")
	fs.StringVar(&f.TFFormat, "tf-format", "instances", "tfserving protocol: request format, instances (rows) or inputs (columns)")
}

// remote is a validated endpoint configuration, shared by the run's
// endpoints; Secrets lists every value that must never be reported.
type remote struct {
	flags    endpointFlags
	headers  []bench.Header
	secrets  []string
	arrival  bench.Arrival
	tfFormat bench.TFFormat
	tmpl     string
}

// headerRef matches $VAR and ${VAR} in a header value.
var headerRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// validate parses headers (expanding environment references) and the load
// shape, before anything runs.
func (f endpointFlags) validate(getenv func(string) string, readFile func(string) ([]byte, error)) (*remote, error) {
	r := &remote{flags: f}
	for _, h := range f.Headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, errkind.Input(fmt.Errorf("--header %q: want 'Name: value'", redactHeaderArg(h)))
		}
		var missing string
		value = headerRef.ReplaceAllStringFunc(strings.TrimSpace(value), func(ref string) string {
			m := headerRef.FindStringSubmatch(ref)
			v := m[1] + m[2]
			val := getenv(v)
			if val == "" && missing == "" {
				missing = v
			}
			if val != "" {
				r.secrets = append(r.secrets, val)
			}
			return val
		})
		if missing != "" {
			return nil, errkind.Input(fmt.Errorf("--header %s: environment variable %s is not set", name, missing))
		}
		r.headers = append(r.headers, bench.Header{Name: name, Value: value})
		// Every header value is a secret: the flags' own text too.
		r.secrets = append(r.secrets, value)
	}
	for _, name := range f.SecretHeaders {
		if !slices.ContainsFunc(r.headers, func(h bench.Header) bool { return strings.EqualFold(h.Name, name) }) {
			return nil, errkind.Input(fmt.Errorf("--secret-header %s: no --header of that name", name))
		}
	}
	if f.Protocol != "" && !slices.Contains(bench.Protocols, f.Protocol) {
		return nil, errkind.Input(fmt.Errorf("--protocol %q: want one of %s", f.Protocol, strings.Join(bench.Protocols, ", ")))
	}
	switch f.Arrival {
	case "constant":
		r.arrival = bench.ArrivalConstant
	case "poisson":
		r.arrival = bench.ArrivalPoisson
	default:
		return nil, errkind.Input(fmt.Errorf("--arrival %q: want constant or poisson", f.Arrival))
	}
	if f.Rate < 0 {
		return nil, errkind.Input(fmt.Errorf("--rate %v: must not be negative", f.Rate))
	}
	if f.Timeout <= 0 || f.ReadyTimeout <= 0 {
		return nil, errkind.Input(errors.New("--timeout and --ready-timeout must be positive"))
	}
	switch f.TFFormat {
	case "instances":
		r.tfFormat = bench.TFRow
	case "inputs":
		r.tfFormat = bench.TFColumnar
	default:
		return nil, errkind.Input(fmt.Errorf("--tf-format %q: want instances or inputs", f.TFFormat))
	}
	r.tmpl = f.RequestTemplate
	if path, ok := strings.CutPrefix(r.tmpl, "@"); ok {
		b, err := readFile(path)
		if err != nil {
			return nil, errkind.Input(fmt.Errorf("--request-template %s: %w", path, err))
		}
		r.tmpl = string(b)
	}
	if f.CACert != "" {
		if _, err := readFile(f.CACert); err != nil {
			return nil, errkind.Input(fmt.Errorf("--ca-cert %s: %w", f.CACert, err))
		}
	}
	return r, nil
}

// checkMemoryCheck refuses --max-memory-increase when a model is an
// endpoint: its memory is its server's, which infergate does not read, so
// the check could never be decided.
func checkMemoryCheck(given map[string]string, models []model) error {
	if _, ok := given["max-memory-increase"]; !ok {
		return nil
	}
	for _, m := range models {
		if m.URL != "" {
			return errkind.Input(fmt.Errorf("--max-memory-increase compares local models' worker memory; the %s model is an endpoint, whose memory is its server's and is not measured", m.Role))
		}
	}
	return nil
}

// redactHeaderArg keeps a malformed --header's name only.
func redactHeaderArg(h string) string {
	if name, _, ok := strings.Cut(h, ":"); ok {
		return name + ": " + redactedText
	}
	return redactedText
}

const redactedText = "<redacted>"

// start connects to a model's endpoint and reads its metadata.
func (r *remote) start(ctx context.Context, m model, concurrency int, ds *loader.Dataset) (bench.Target, error) {
	cfg := bench.EndpointConfig{
		RemoteConfig: bench.RemoteConfig{
			Name:         string(m.Role),
			URL:          m.URL,
			Headers:      r.headers,
			SecretValues: r.secrets,
			CACert:       r.flags.CACert,
			Insecure:     r.flags.Insecure,
			Timeout:      r.flags.Timeout,
			ReadyTimeout: r.flags.ReadyTimeout,
			Concurrency:  concurrency,
		},
		Protocol:        r.flags.Protocol,
		TFFormat:        r.tfFormat,
		Method:          r.flags.Method,
		RequestTemplate: r.tmpl,
		ResponsePath:    r.flags.ResponsePath,
	}
	if cfg.Protocol == "" {
		cfg.Protocol = bench.GuessProtocol(m.URL)
	}
	if cfg.Protocol == bench.ProtocolHTTP {
		// A plain HTTP API has no metadata: its inputs are the dataset's
		// columns, bound by name, nulls and text included.
		inputs, unsent := ds.JSONInputs()
		uses := parseTemplateUses(r.tmpl)
		if err := checkTemplateColumns(uses, unsent); err != nil {
			return nil, err
		}
		cfg.Inputs = usedInputs(uses, inputs)
	}
	return bench.StartEndpoint(ctx, cfg)
}

// templateUses is what a request template reads of a batch. Every field
// name, variable field and string constant in it counts as naming a
// column: a false match binds a column for nothing, a missed one would
// leave the template without it.
type templateUses struct {
	named map[string]bool
	// whole: the template hands a whole row, batch or input map on
	// (`json .Rows`, `range .Row`), so every column may be read.
	whole bool
	// parsed is false when the template does not parse; the target
	// reports the syntax error, and every column stays bound.
	parsed bool
}

func parseTemplateUses(tmpl string) templateUses {
	u := templateUses{named: map[string]bool{}}
	t, err := template.New("request").Funcs(template.FuncMap{"json": func(any) string { return "" }}).Parse(tmpl)
	if err != nil {
		return u
	}
	u.parsed = true
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			templateNames(tt.Tree.Root, u.named, &u.whole)
		}
	}
	return u
}

// checkTemplateColumns refuses a request template that names a column the
// loader cannot give it, by name and type, before anything connects
// (executing it would only say the map has no such key).
func checkTemplateColumns(uses templateUses, unsent []loader.Column) error {
	for _, c := range unsent {
		if uses.named[c.Name] {
			return errkind.Input(fmt.Errorf("--request-template uses column %s, whose type %s cannot be sent (numbers, bool, text, binary as base64 and lists of numbers can)", c.Name, c.Type))
		}
	}
	return nil
}

// usedInputs keeps the columns the template names. Columns it never reads
// would still count: a null or empty value in one would file a batch's
// errors under that input class, and its lengths would move the batch's
// input size. All stay when the template passes whole rows on, or names
// none of them.
func usedInputs(uses templateUses, inputs []loader.InputSpec) []loader.InputSpec {
	if !uses.parsed || uses.whole {
		return inputs
	}
	var kept []loader.InputSpec
	for _, in := range inputs {
		if uses.named[in.Name] {
			kept = append(kept, in)
		}
	}
	if len(kept) == 0 {
		return inputs
	}
	return kept
}

// wholeBatchFields are the template data's fields that hold every column.
var wholeBatchFields = map[string]bool{"Row": true, "Rows": true, "Inputs": true}

// templateNames collects the field names and string constants under n,
// and notes a whole row, batch or input map used as a value.
func templateNames(n parse.Node, named map[string]bool, whole *bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				templateNames(c, named, whole)
			}
		}
	case *parse.ActionNode:
		templateNames(n.Pipe, named, whole)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				templateNames(c, named, whole)
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			templateNames(a, named, whole)
		}
	case *parse.FieldNode:
		if len(n.Ident) == 1 && wholeBatchFields[n.Ident[0]] {
			*whole = true
		}
		for _, id := range n.Ident {
			named[id] = true
		}
	case *parse.VariableNode:
		for _, id := range n.Ident[1:] {
			named[id] = true
		}
	case *parse.ChainNode:
		templateNames(n.Node, named, whole)
		for _, id := range n.Field {
			named[id] = true
		}
	case *parse.StringNode:
		named[n.Text] = true
	case *parse.IfNode:
		templateNames(&n.BranchNode, named, whole)
	case *parse.RangeNode:
		templateNames(&n.BranchNode, named, whole)
	case *parse.WithNode:
		templateNames(&n.BranchNode, named, whole)
	case *parse.BranchNode:
		templateNames(n.Pipe, named, whole)
		templateNames(n.List, named, whole)
		templateNames(n.ElseList, named, whole)
	case *parse.TemplateNode:
		templateNames(n.Pipe, named, whole)
	}
}

// redactor scrubs secrets from text that is about to be printed or saved.
type redactor []string

func (r redactor) text(s string) string {
	for _, secret := range r {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redactedText)
		}
	}
	return s
}

// logf scrubs progress lines.
func (r redactor) logf(logf bench.Logf) bench.Logf {
	if len(r) == 0 {
		return logf
	}
	return func(format string, args ...any) { logf("%s", r.text(fmt.Sprintf(format, args...))) }
}

// err keeps err's kind and wrapping but scrubs its message.
func (r redactor) err(err error) error {
	if err == nil || len(r) == 0 {
		return err
	}
	msg := r.text(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// result scrubs every free-text field of a result.
func (r redactor) result(res *result.Result) {
	if len(r) == 0 || res == nil {
		return
	}
	res.Error = r.text(res.Error)
	for i := range res.Warnings {
		res.Warnings[i] = r.text(res.Warnings[i])
	}
	for i := range res.Targets {
		t := &res.Targets[i]
		t.Failed, t.Model, t.Name = r.text(t.Failed), r.text(t.Model), r.text(t.Name)
	}
	scrub := func(targets []result.Target, checks []result.Check) {
		for i := range targets {
			t := &targets[i]
			t.Failed, t.Model, t.Name = r.text(t.Failed), r.text(t.Model), r.text(t.Name)
		}
		for i := range checks {
			checks[i].Message = r.text(checks[i].Message)
		}
	}
	scrub(nil, res.Checks)
	for i := range res.Stages {
		st := &res.Stages[i]
		st.Error = r.text(st.Error)
		scrub(st.Targets, st.Checks)
	}
}

func readFileOS(path string) ([]byte, error) { return os.ReadFile(path) }
