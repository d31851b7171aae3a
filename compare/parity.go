package compare

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

// Parity check names: the flags that ask for them.
const (
	CheckOutputParity = "output-parity"
	CheckTop1         = "min-top1-agreement"
)

// UnitFraction is the unit of the parity checks' values.
const UnitFraction = "fraction"

// OutputValues is one output of one batch, its elements as float64 in
// row-major order.
type OutputValues struct {
	Name  string
	Shape []int64
	Data  []float64
}

// ParityOptions are the tolerances of a parity comparison.
type ParityOptions struct {
	ATol, RTol float64
	// MinTop1Agreement, when set, asks for the top-1 check.
	MinTop1Agreement *float64
	// Map pairs a candidate output (key) with a production output (value)
	// of another name; outputs not in it pair by name.
	Map map[string]string
}

// PairOutputs pairs production's outputs with the candidate's by name,
// through m (candidate → production). It returns the candidate output of
// each production output, or an input error, in one line, naming both
// lists when they do not pair up.
func PairOutputs(prod, cand []string, m map[string]string) ([]string, error) {
	toProd := map[string]string{}
	for _, c := range cand {
		p := c
		if mp, ok := m[c]; ok {
			p = mp
		}
		toProd[c] = p
	}
	for c, p := range m {
		if !slices.Contains(cand, c) {
			return nil, errkind.Input(fmt.Errorf("--output-map %s=%s: the candidate has no output %s (it has %s)", c, p, c, list(cand)))
		}
		if !slices.Contains(prod, p) {
			return nil, errkind.Input(fmt.Errorf("--output-map %s=%s: production has no output %s (it has %s)", c, p, p, list(prod)))
		}
	}
	out := make([]string, len(prod))
	seen := map[string]bool{}
	for i, p := range prod {
		for _, c := range cand {
			if toProd[c] == p && !seen[c] {
				out[i], seen[c] = c, true
				break
			}
		}
	}
	if slices.Contains(out, "") || len(seen) != len(cand) {
		hint := "pair them with --output-map CANDIDATE=PRODUCTION"
		if len(m) > 0 {
			hint = "--output-map leaves some unpaired"
		}
		return nil, errkind.Input(fmt.Errorf("output names differ: candidate has %s, production has %s; %s", list(cand), list(prod), hint))
	}
	return out, nil
}

func list(names []string) string { return "[" + strings.Join(names, ", ") + "]" }

// CheckDeclaredShapes refuses, before anything is measured, paired outputs
// whose shapes the models' own declarations already tell apart: a
// different rank, or a dimension both fix at different sizes. The shapes
// parallel the names (-1 is a free dimension; a nil or empty shape, or nil
// shapes, say nothing is declared), and outputs pair as in PairOutputs.
// What the declarations leave open is compared on the outputs themselves
// (Parity), after the measured pass.
func CheckDeclaredShapes(prod, cand []string, prodShapes, candShapes [][]int64, m map[string]string) error {
	pairs, err := PairOutputs(prod, cand, m)
	if err != nil {
		return err
	}
	for i, p := range prod {
		j := slices.Index(cand, pairs[i])
		if i >= len(prodShapes) || j >= len(candShapes) {
			continue
		}
		ps, cs := prodShapes[i], candShapes[j]
		if declaredApart(ps, cs) {
			return errkind.Input(fmt.Errorf("output shapes differ: candidate %s has %v, production %s has %v (as the models declare them; -1 is a free dimension)",
				pairs[i], cs, p, ps))
		}
	}
	return nil
}

// declaredApart reports whether two declared shapes cannot match at run
// time. An empty shape says nothing: ONNX Runtime reports an output
// declared without a shape with no dimensions, as it does a scalar.
func declaredApart(a, b []int64) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	if len(a) != len(b) {
		return true
	}
	for k := range a {
		if a[k] >= 0 && b[k] >= 0 && a[k] != b[k] {
			return true
		}
	}
	return false
}

// Parity compares the candidate's outputs with production's, batch by
// batch over the same rows: prod[b] and cand[b] are batch b's outputs,
// paired by PairOutputs. Every element is compared, so the answer is exact
// on these rows, not a statistical estimate. Outputs whose shapes differ
// (on any batch; the first is where they usually show) are an input error
// naming both shapes.
func Parity(prod, cand [][]OutputValues, opts ParityOptions) (*result.Parity, error) {
	if len(prod) != len(cand) {
		return nil, fmt.Errorf("compare: %d production batches against %d candidate batches", len(prod), len(cand))
	}
	p := &result.Parity{ATol: opts.ATol, RTol: opts.RTol, MinTop1Agreement: opts.MinTop1Agreement}
	if len(prod) == 0 {
		return nil, errors.New("compare: no rows to compare outputs on")
	}
	var prodNames, candNames []string
	for _, o := range prod[0] {
		prodNames = append(prodNames, o.Name)
	}
	for _, o := range cand[0] {
		candNames = append(candNames, o.Name)
	}
	pairs, err := PairOutputs(prodNames, candNames, opts.Map)
	if err != nil {
		return nil, err
	}
	acc := make([]parityAcc, len(prodNames))
	for b := range prod {
		for i, po := range prod[b] {
			co, ok := find(cand[b], pairs[i])
			if !ok {
				return nil, fmt.Errorf("compare: batch %d has no candidate output %s", b, pairs[i])
			}
			if !slices.Equal(po.Shape, co.Shape) {
				return nil, errkind.Input(fmt.Errorf("output shapes differ: candidate %s has %v, production %s has %v", co.Name, co.Shape, po.Name, po.Shape))
			}
			if len(po.Data) != len(co.Data) {
				return nil, fmt.Errorf("compare: output %s: %d elements against %d", po.Name, len(po.Data), len(co.Data))
			}
			if b == 0 {
				acc[i].shape = po.Shape
			}
			acc[i].add(po, co, opts)
		}
	}
	for i, a := range acc {
		op := result.OutputParity{
			Name: prodNames[i], Shape: a.shape, Elements: a.n,
			MaxAbs: a.maxAbs, MaxRel: a.maxRel, Rows: a.rows,
			Classifier: a.classifier,
		}
		if pairs[i] != prodNames[i] {
			op.Candidate = pairs[i]
		}
		if a.n > 0 {
			op.WithinTol = float64(a.within) / float64(a.n)
		} else {
			op.WithinTol = 1
		}
		if a.classifier && a.top1Rows > 0 {
			op.Top1 = float64(a.top1Agree) / float64(a.top1Rows)
		}
		p.Outputs = append(p.Outputs, op)
		p.Rows = max(p.Rows, a.rows)
	}
	if opts.MinTop1Agreement != nil && !slices.ContainsFunc(p.Outputs, func(o result.OutputParity) bool { return o.Classifier }) {
		return nil, errkind.Input(fmt.Errorf("--min-top1-agreement: no output is a classifier's (last dimension above 1): %s", list(prodNames)))
	}
	return p, nil
}

func find(outs []OutputValues, name string) (OutputValues, bool) {
	for _, o := range outs {
		if o.Name == name {
			return o, true
		}
	}
	return OutputValues{}, false
}

type parityAcc struct {
	shape               []int64
	n, within           int64
	maxAbs, maxRel      float64
	rows                int
	classifier          bool
	top1Rows, top1Agree int
}

// Within reports whether candidate value c is within tolerance of
// production value p: |c - p| <= atol + rtol*|p|, as numpy.allclose (with
// production as the reference b). NaN is within tolerance only of NaN.
func Within(c, p, atol, rtol float64) bool {
	if math.IsNaN(c) || math.IsNaN(p) {
		return math.IsNaN(c) && math.IsNaN(p)
	}
	if math.IsInf(c, 0) || math.IsInf(p, 0) {
		return c == p // infinities are close only to the same infinity
	}
	return math.Abs(c-p) <= atol+rtol*math.Abs(p)
}

func (a *parityAcc) add(po, co OutputValues, opts ParityOptions) {
	for k, pv := range po.Data {
		cv := co.Data[k]
		a.n++
		if Within(cv, pv, opts.ATol, opts.RTol) {
			a.within++
		}
		if cv == pv || (math.IsNaN(cv) && math.IsNaN(pv)) {
			continue
		}
		d := math.Abs(cv - pv)
		if math.IsNaN(d) || math.IsInf(d, 0) {
			// JSON has no infinities: a NaN or infinite difference shows
			// as the largest float and fails the tolerance anyway.
			d = math.MaxFloat64
		}
		a.maxAbs = max(a.maxAbs, d)
		if pv != 0 && !math.IsInf(pv, 0) && !math.IsNaN(pv) {
			a.maxRel = max(a.maxRel, min(d/math.Abs(pv), math.MaxFloat64))
		}
	}
	rows := 1
	if len(po.Shape) > 0 {
		rows = int(po.Shape[0])
	}
	a.rows += rows
	if len(po.Shape) >= 2 && po.Shape[len(po.Shape)-1] > 1 {
		a.classifier = true
		a.top1Rows += Top1Agreement(po.Data, co.Data, int(po.Shape[len(po.Shape)-1]), &a.top1Agree)
	}
}

// Top1Agreement compares the argmax of each run of width elements (one
// row's scores over the last dimension) of prod and cand, adds the number
// that agree to *agree and returns the number of rows compared. Ties go to
// the first index, as numpy.argmax.
func Top1Agreement(prod, cand []float64, width int, agree *int) int {
	if width <= 0 {
		return 0
	}
	rows := len(prod) / width
	for r := range rows {
		if argmax(prod[r*width:(r+1)*width]) == argmax(cand[r*width:(r+1)*width]) {
			*agree++
		}
	}
	return rows
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] || (math.IsNaN(x) && !math.IsNaN(v[best])) {
			best = i
			if math.IsNaN(x) {
				break
			}
		}
	}
	return best
}

// ParityChecks turns a parity comparison into checks, deterministic pass
// or fail: "output-parity" per output (fails when any element is out of
// tolerance) and, when asked, "min-top1-agreement" per classifier output.
func ParityChecks(p *result.Parity) []result.Check {
	if p == nil {
		return nil
	}
	var out []result.Check
	for _, o := range p.Outputs {
		name := o.Name
		if o.Candidate != "" {
			name = o.Candidate + "→" + o.Name
		}
		c := result.Check{
			Name: CheckOutputParity, Metric: "output " + name, Unit: UnitFraction,
			Threshold: 1, Candidate: o.WithinTol, Production: 1,
			Lower: o.WithinTol, Upper: o.WithinTol,
			Outcome: result.OutcomePass, Method: "exact on " + SampledRows(p),
			Samples: o.Elements,
		}
		if o.WithinTol < 1 {
			c.Outcome = result.OutcomeFail
		}
		c.Message = fmt.Sprintf("output %s: max abs diff %.4g, max rel diff %.4g; %s of %d elements within atol %g + rtol %g·|production| on %d rows",
			name, o.MaxAbs, o.MaxRel, pct(o.WithinTol), o.Elements, p.ATol, p.RTol, o.Rows)
		out = append(out, c)
	}
	if p.MinTop1Agreement != nil {
		for _, o := range p.Outputs {
			if !o.Classifier {
				continue
			}
			thr := *p.MinTop1Agreement
			c := result.Check{
				Name: CheckTop1, Metric: "top1 " + o.Name, Unit: UnitFraction,
				Threshold: thr, Candidate: o.Top1, Production: 1,
				Lower: o.Top1, Upper: o.Top1, Outcome: result.OutcomePass,
				Method: "exact on " + SampledRows(p), Samples: int64(o.Rows),
			}
			if o.Top1 < thr {
				c.Outcome = result.OutcomeFail
			}
			c.Message = fmt.Sprintf("output %s: top-1 agreement %s of %d rows (want at least %s)", o.Name, pct(o.Top1), o.Rows, pct(thr))
			out = append(out, c)
		}
	}
	return out
}

// SampledRows says which rows a parity comparison read, for the reports:
// "64 rows spread evenly over the 1000 the run read", "all 64 rows", or,
// for a result written before parity sampled, "the first 64 rows".
func SampledRows(p *result.Parity) string {
	smp := p.Sample
	switch {
	case smp == nil:
		return fmt.Sprintf("the first %d rows", p.Rows)
	case smp.Of <= int64(p.Rows):
		return fmt.Sprintf("all %d rows", p.Rows)
	case smp.ShuffleSeed != nil:
		return fmt.Sprintf("%d rows spread evenly over the %d the run read (in --shuffle %d order)", p.Rows, smp.Of, *smp.ShuffleSeed)
	}
	return fmt.Sprintf("%d rows spread evenly over the %d the run read", p.Rows, smp.Of)
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }

// ApplyParity replaces r's parity checks with those of r.Parity and folds
// them into the verdict, leaving a run that errored or was interrupted as
// it is. The measurement's judge (JudgeWith) runs before the parity pass,
// so the command applies parity once after it; JudgeWith adds the same
// checks when it re-judges a saved document that has r.Parity.
func ApplyParity(r *result.Result) {
	if r == nil || r.Parity == nil {
		return
	}
	r.Checks = slices.DeleteFunc(r.Checks, isParityCheck)
	if r.Checks == nil {
		r.Checks = []result.Check{}
	}
	pc := ParityChecks(r.Parity)
	r.Checks = append(r.Checks, pc...)
	if r.Verdict == result.VerdictError || r.Interrupted {
		return
	}
	// The parity checks are pass or fail, never inconclusive: a failed one
	// fails the run, and passed ones turn "no checks" into a pass.
	switch v := Overall(pc); {
	case v == result.VerdictFail:
		r.Verdict = result.VerdictFail
	case v == result.VerdictPass && (r.Verdict == result.VerdictNone || r.Verdict == ""):
		r.Verdict = result.VerdictPass
	}
}

func isParityCheck(c result.Check) bool {
	return c.Name == CheckOutputParity || c.Name == CheckTop1
}
