package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/spf13/pflag"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// parityFlags are the output-parity flags of `run` (--check-outputs).
type parityFlags struct {
	CheckOutputs bool
	ParityRows   int
	OutputATol   float64
	OutputRTol   float64
	MinTop1      float64
	OutputMap    []string

	top1Set bool // --min-top1-agreement was given
}

func (p *parityFlags) registerParity(fs *pflag.FlagSet) {
	fs.BoolVar(&p.CheckOutputs, "check-outputs", false, "compare the models' outputs on --parity-rows rows spread over the test set, after the measured pass and untimed; fail when any element is out of tolerance")
	fs.IntVar(&p.ParityRows, "parity-rows", 256, "rows --check-outputs compares: N spread evenly over the rows the run reads (row ⌊i·total/N⌋, in the run's order), the same every run")
	fs.Float64Var(&p.OutputATol, "output-atol", 1e-4, "absolute tolerance of --check-outputs: within when |cand-prod| <= atol + rtol·|prod|")
	fs.Float64Var(&p.OutputRTol, "output-rtol", 1e-3, "relative tolerance of --check-outputs (see --output-atol)")
	fs.Float64Var(&p.MinTop1, "min-top1-agreement", 0.99, "with --check-outputs: fail when the argmax over the last dimension agrees on fewer than this `fraction` of rows (checked only when given; implies --check-outputs)")
	fs.StringArrayVar(&p.OutputMap, "output-map", nil, "pair a candidate output with a production output of another name: `cand=prod` (repeatable; implies --check-outputs)")
}

func (p *parityFlags) afterParseParity(fs *pflag.FlagSet) {
	p.top1Set = fs.Changed("min-top1-agreement")
	if p.top1Set || len(p.OutputMap) > 0 {
		p.CheckOutputs = true
	}
}

// parityConfig is validated --check-outputs.
type parityConfig struct {
	rows int64
	opts compare.ParityOptions
}

// plainHTTP reports whether any of the endpoint URLs speaks the plain http
// protocol (given, or guessed from the URL), which cannot return outputs.
func plainHTTP(protocol string, urls ...string) bool {
	for _, u := range urls {
		if u == "" {
			continue
		}
		p := protocol
		if p == "" {
			p = bench.GuessProtocol(u)
		}
		if p == bench.ProtocolHTTP {
			return true
		}
	}
	return false
}

// validateParity checks the --check-outputs flags; httpEndpoint says a
// model is a plain http endpoint, whose outputs cannot be read.
func (p *parityFlags) validateParity(httpEndpoint bool) (*parityConfig, error) {
	if !p.CheckOutputs {
		return nil, nil
	}
	if httpEndpoint {
		return nil, errkind.Input(errors.New("--check-outputs needs models that return their outputs: local ONNX models, or kserve-rest, kserve-grpc or tfserving endpoints, not the plain http protocol"))
	}
	if p.ParityRows < 1 {
		return nil, errkind.Input(fmt.Errorf("--parity-rows %d: need at least 1", p.ParityRows))
	}
	for _, t := range []struct {
		flag string
		v    float64
	}{{"output-atol", p.OutputATol}, {"output-rtol", p.OutputRTol}} {
		if !(t.v >= 0) || math.IsInf(t.v, 0) {
			return nil, errkind.Input(fmt.Errorf("--%s %v: want a finite tolerance of at least 0", t.flag, t.v))
		}
	}
	c := &parityConfig{rows: int64(p.ParityRows), opts: compare.ParityOptions{ATol: p.OutputATol, RTol: p.OutputRTol}}
	if p.top1Set {
		if !(p.MinTop1 >= 0 && p.MinTop1 <= 1) {
			return nil, errkind.Input(fmt.Errorf("--min-top1-agreement %v: want a fraction in [0, 1], e.g. 0.99", p.MinTop1))
		}
		v := p.MinTop1
		c.opts.MinTop1Agreement = &v
	}
	if len(p.OutputMap) > 0 {
		c.opts.Map = map[string]string{}
		for _, m := range p.OutputMap {
			cand, prod, ok := strings.Cut(m, "=")
			cand, prod = strings.TrimSpace(cand), strings.TrimSpace(prod)
			if !ok || cand == "" || prod == "" {
				return nil, errkind.Input(fmt.Errorf("--output-map %q: want CANDIDATE=PRODUCTION output names", m))
			}
			if _, dup := c.opts.Map[cand]; dup {
				return nil, errkind.Input(fmt.Errorf("--output-map: candidate output %s is mapped twice", cand))
			}
			c.opts.Map[cand] = prod
		}
	}
	return c, nil
}

// checkOutputs refuses, before anything is measured, models whose outputs
// do not pair up by name (through --output-map), or whose declared output
// shapes already differ. Targets are production first.
func (c *parityConfig) checkOutputs(targets []bench.Target) error {
	if c == nil || len(targets) != 2 {
		return nil
	}
	for _, t := range targets {
		if !bench.SupportsOutputs(t) {
			return errkind.Input(fmt.Errorf("--check-outputs: %s cannot return its outputs (local ONNX models and kserve-rest, kserve-grpc and tfserving endpoints can)", t.Info().Name))
		}
	}
	prod, cand := targets[0].Info(), targets[1].Info()
	return compare.CheckDeclaredShapes(prod.Outputs, cand.Outputs, prod.OutputShapes, cand.OutputShapes, c.opts.Map)
}

// run reads a sample of the rows the run reads, spread evenly over them, as
// batches of the run's size, asks both models for their outputs, untimed
// and after the measured pass, and compares them. A spread sample sees the
// whole test set (a file sorted by date or length differs at its end), and
// the rule needs no seed: the same run picks the same rows.
func (c *parityConfig) run(ctx context.Context, ms *measurement, s *session, logf bench.Logf) (*result.Parity, error) {
	f := ms.flags
	used := f.rowsUsed(s.ds)
	rows := min(c.rows, used)
	src, err := loader.NewSource(s.ds, s.bindings, loader.SourceOptions{
		BatchSize: f.BatchSize,
		Rows:      f.Rows,
		Shuffle:   f.shuffle,
		Seed:      f.ShuffleSeed,
		Sample:    rows,
	})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var batches []*loader.Batch
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		batches = append(batches, b)
	}
	logf("comparing outputs on %d of %d rows, spread evenly", rows, used)
	outs := make([][][]compare.OutputValues, len(s.targets))
	for i, t := range s.targets {
		bbs := make([]bench.BlockBatch, len(batches))
		for j, b := range batches {
			bbs[j] = bench.BlockBatch{Rows: b.Rows, Tensors: b.Tensors[i]}
		}
		bo, err := t.(bench.OutputTarget).Outputs(ctx, bbs)
		if err != nil {
			return nil, fmt.Errorf("%s model outputs: %w", ms.models[i].Role, err)
		}
		outs[i] = toOutputValues(bo)
	}
	p, err := compare.Parity(outs[0], outs[1], c.opts)
	if err != nil {
		return nil, err
	}
	p.Sample = &result.ParitySample{Rule: result.SampleSpread, Of: used}
	if f.shuffle {
		seed := f.ShuffleSeed
		p.Sample.ShuffleSeed = &seed
	}
	return p, nil
}

func toOutputValues(bos []bench.BatchOutputs) [][]compare.OutputValues {
	out := make([][]compare.OutputValues, len(bos))
	for i, b := range bos {
		for _, o := range b.Outputs {
			out[i] = append(out[i], compare.OutputValues{Name: o.Name, Shape: o.Shape, Data: o.Data})
		}
	}
	return out
}

// applyParity runs the parity pass on a measured result and folds its
// checks into the verdict. A run that failed, was interrupted or measured
// nothing is left as it is.
func (ms *measurement) applyParity(ctx context.Context, s *session, logf bench.Logf, res *result.Result, err error) (*result.Result, error) {
	if ms.parity == nil || err != nil || res == nil || res.Interrupted || ctx.Err() != nil {
		return res, err
	}
	p, perr := ms.parity.run(ctx, ms, s, logf)
	if perr != nil {
		res.Verdict = result.VerdictError
		res.Error = perr.Error()
		return res, perr
	}
	res.Parity = p
	compare.ApplyParity(res)
	for _, c := range compare.ParityChecks(p) {
		logf("  %s: %s", c.Name, checkSummary(c))
	}
	return res, nil
}
