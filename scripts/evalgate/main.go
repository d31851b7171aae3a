// Command evalgate measures how right infergate's gate is (make eval-gate).
//
// It generates model pairs of known cost ratio (1.00, 1.10, 1.25, 1.50 by
// default) against a base model of about 20 µs per call, judges each pair N
// times with `infergate run --max-latency-increase 1.15`, with and without
// a bursty noisy neighbour (CPU-bound processes on every core that come and
// go in bursts of a few hundred milliseconds), and writes a Markdown table:
// false fail, false pass, detection and inconclusive rates, and time to
// verdict, beside the naive rule (one pass each, ratio of point estimates)
// computed from the same runs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/infergate/infergate/internal/bareloop"
	"github.com/infergate/infergate/internal/onnxgen"
	"github.com/infergate/infergate/internal/ortlib"
	"github.com/infergate/infergate/result"
)

const (
	threshold   = 1.15
	hiddenWidth = 48
	baseLayers  = 48
)

// A call costs a fixed part plus about 0.4 µs per hidden layer, about 2%
// of the base's cost: the first guess at a candidate's depth. The depth is
// then tuned by measurement to within ratioTolerance.
const (
	perLayer       = 0.02
	ratioTolerance = 0.015
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-neighbour-child" {
		neighbourChild()
		return
	}
	runs := flag.Int("runs", 20, "judgements per pair and condition")
	quietRuns := flag.Int("quiet-runs", 10, "judgements per pair without the neighbour")
	ratios := flag.String("ratios", "1.00,1.10,1.25,1.50", "cost ratios to evaluate")
	bin := flag.String("bin", "bin/infergate", "infergate binary")
	dataset := flag.String("dataset", "testdata/mlp.parquet", "test set")
	out := flag.String("out", "docs/eval-gate.md", "Markdown report")
	extra := flag.String("args", "--intra-op-threads 1", "extra arguments for infergate run")
	flag.Parse()
	if err := run(*runs, *quietRuns, strings.Split(*ratios, ","), *bin, *dataset, *out, strings.Fields(*extra)); err != nil {
		fmt.Fprintln(os.Stderr, "evalgate:", err)
		os.Exit(1)
	}
}

type outcome struct {
	verdict result.Verdict
	ratio   float64 // the gate's point estimate
	lower   float64
	upper   float64
	naive   float64 // the naive rule's ratio: one separate pass of each model, back to back
	seconds float64 // wall time of the run
	rounds  int
}

type cell struct {
	ratio     string
	trueRatio float64
	noisy     bool
	outcomes  []outcome
}

func run(runs, quietRuns int, ratios []string, bin, dataset, out string, extra []string) error {
	lib, err := ortlib.Find()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "evalgate")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	base := filepath.Join(dir, "base.onnx")
	if err := writeMLP(base, 7001, baseLayers); err != nil {
		return err
	}
	// Each candidate's depth is tuned by measurement until its median cost
	// ratio to the base is within tolerance of the target: a bare
	// in-process loop, interleaved, before any neighbour runs.
	models := map[string]string{}
	trueRatio := map[string]float64{}
	for i, r := range ratios {
		want, err := strconv.ParseFloat(r, 64)
		if err != nil {
			return fmt.Errorf("ratio %q: %w", r, err)
		}
		p := filepath.Join(dir, "cand-"+r+".onnx")
		layers := baseLayers + int(math.Round((want-1)/perLayer))
		var got float64
		for try := 0; ; try++ {
			if err := writeMLP(p, uint64(7100+i), layers); err != nil {
				return err
			}
			med, err := bareloop.MedianInterleaved(lib, []string{base, p}, []int64{1, 64}, 20000, 1)
			if err != nil {
				return err
			}
			got = float64(med[1]) / float64(med[0])
			fmt.Fprintf(os.Stderr, "pair %s: %d layers, median ratio %.3f (base %v)\n", r, layers, got, med[0])
			step := int(math.Round((want - got) / perLayer))
			if math.Abs(got-want) <= ratioTolerance || try == 5 || step == 0 {
				break
			}
			layers = max(1, layers+step)
		}
		models[r], trueRatio[r] = p, got
	}

	var cells []*cell
	for _, noisy := range []bool{false, true} {
		n := quietRuns
		if noisy {
			n = runs
		}
		if n == 0 {
			continue
		}
		for _, r := range ratios {
			c := &cell{ratio: r, trueRatio: trueRatio[r], noisy: noisy}
			for i := range n {
				o, err := judge(bin, models[r], base, dataset, dir, extra, noisy)
				if err != nil {
					return err
				}
				c.outcomes = append(c.outcomes, o)
				fmt.Fprintf(os.Stderr, "ratio %s noisy=%v run %d/%d: %s %.3f [%.3f, %.3f] in %.1fs (%d rounds); naive %.3f\n",
					r, noisy, i+1, n, o.verdict, o.ratio, o.lower, o.upper, o.seconds, o.rounds, o.naive)
			}
			cells = append(cells, c)
		}
	}
	return os.WriteFile(out, []byte(render(cells, extra)), 0o644)
}

func writeMLP(path string, seed uint64, layers int) error {
	h := make([]int, layers)
	for i := range h {
		h[i] = hiddenWidth
	}
	b, err := onnxgen.NewMLP(filepath.Base(path), seed, 64, h, 10).Graph().Model().Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// judge runs the gate once, with the neighbour around it when noisy.
func judge(bin, candidate, production, dataset, dir string, extra []string, noisy bool) (outcome, error) {
	if noisy {
		stop, err := startNeighbour()
		if err != nil {
			return outcome{}, err
		}
		defer stop()
	}
	jsonPath := filepath.Join(dir, "result.json")
	args := append([]string{"run", "--candidate", candidate, "--production", production, "--dataset", dataset,
		"--max-latency-increase", strconv.FormatFloat(threshold, 'f', -1, 64), "--quiet", "--json", jsonPath}, extra...)
	start := time.Now()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	secs := time.Since(start).Seconds()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() <= 1) {
		return outcome{}, fmt.Errorf("infergate: %w", err)
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		return outcome{}, err
	}
	defer f.Close()
	res, err := result.Read(f)
	if err != nil {
		return outcome{}, err
	}
	o := outcome{verdict: res.Verdict, seconds: secs}
	if len(res.Checks) > 0 {
		o.ratio, o.lower, o.upper = res.Checks[0].Ratio, res.Checks[0].Lower, res.Checks[0].Upper
	}
	if cand := res.Target(result.RoleCandidate); cand != nil {
		o.rounds = len(cand.Rounds)
	}
	// The naive rule, under the same conditions: one pass of production,
	// then one of the candidate, the ratio of the two point estimates.
	q := res.Config.LatencyPercentile
	p, err := onePass(bin, production, dataset, dir, extra, q)
	if err != nil {
		return o, err
	}
	c, err := onePass(bin, candidate, dataset, dir, extra, q)
	if err != nil {
		return o, err
	}
	if p > 0 {
		o.naive = float64(c) / float64(p)
	}
	return o, nil
}

// naivePass is how long the naive rule measures each model.
const naivePass = "3s"

// onePass measures one model alone with `infergate bench` and returns its
// latency at quantile q.
func onePass(bin, model, dataset, dir string, extra []string, q float64) (time.Duration, error) {
	jsonPath := filepath.Join(dir, "pass.json")
	args := []string{"bench", "--model", model, "--dataset", dataset, "--duration", naivePass, "--rounds", "1", "--quiet", "--json", jsonPath}
	for i := 0; i < len(extra); i++ {
		if extra[i] == "--latency-percentile" {
			i++ // bench has no such check; q comes from the gate run
			continue
		}
		args = append(args, extra[i])
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("infergate bench: %w", err)
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	res, err := result.Read(f)
	if err != nil || len(res.Targets) != 1 {
		return 0, fmt.Errorf("naive pass: %v", err)
	}
	h, err := res.Targets[0].Histogram()
	if err != nil {
		return 0, err
	}
	return h.Quantile(q), nil
}

// startNeighbour starts one bursty CPU hog per core.
func startNeighbour() (stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var cmds []*exec.Cmd
	for i := range runtime.NumCPU() {
		c := exec.Command(self, "-neighbour-child", strconv.Itoa(i))
		if err := c.Start(); err != nil {
			for _, c := range cmds {
				c.Process.Kill()
				c.Wait()
			}
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}, nil
}

// neighbourChild burns a core in bursts of 100–500 ms with pauses of
// 100–500 ms, until killed (and for at most 10 minutes).
func neighbourChild() {
	seed, _ := strconv.Atoi(os.Args[2])
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(time.Now().UnixNano())))
	deadline := time.Now().Add(10 * time.Minute)
	x := 1.0
	for time.Now().Before(deadline) {
		burst := time.Duration(100+rng.IntN(400)) * time.Millisecond
		end := time.Now().Add(burst)
		for time.Now().Before(end) {
			for range 10000 {
				x = x*1.0000001 + 1e-9
			}
		}
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
	}
	_ = x
}

func render(cells []*cell, extra []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Gate evaluation\n\n")
	fmt.Fprintf(&b, "Made by `make eval-gate` (scripts/evalgate) on %s, %d cores, %s.\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH)
	fmt.Fprintf(&b, "Each pair is judged with `infergate run --max-latency-increase %.2f %s` (all other settings default).\n", threshold, strings.Join(extra, " "))
	fmt.Fprintf(&b, "The noisy neighbour is one CPU-bound process per core, busy in bursts of 100–500 ms with pauses of 100–500 ms.\n")
	fmt.Fprintf(&b, "True ratio: median per-call latency of candidate / base in a bare in-process loop, interleaved, without the neighbour.\n\n")
	fmt.Fprintf(&b, "For pairs at or under the threshold a fail is a false fail; above it a pass is a false pass and a fail a detection.\n")
	fmt.Fprintf(&b, "The naive rule, run right after each judgement under the same conditions: one %s pass of production, then one of the candidate (`infergate bench`), and the same percentile's ratio of the two point estimates against the threshold.\n\n", naivePass)
	b.WriteString("| pair | true ratio | neighbour | runs | fail | pass | inconclusive | false fail | false pass | detection | median time to verdict | naive: fail | naive: false fail | naive ratios (min–max) |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, c := range cells {
		var fail, pass, inc, naiveFail int
		var secs, naive []float64
		for _, o := range c.outcomes {
			switch o.verdict {
			case result.VerdictFail:
				fail++
			case result.VerdictPass:
				pass++
			default:
				inc++
			}
			if o.naive > threshold {
				naiveFail++
			}
			secs = append(secs, o.seconds)
			naive = append(naive, o.naive)
		}
		n := len(c.outcomes)
		over := c.trueRatio > threshold
		pct := func(k int) string { return fmt.Sprintf("%d/%d", k, n) }
		falseFail, falsePass, detect, naiveFalse := "–", "–", "–", "–"
		if over {
			falsePass, detect = pct(pass), pct(fail)
		} else {
			falseFail, naiveFalse = pct(fail), pct(naiveFail)
		}
		slices.Sort(naive)
		nb := "off"
		if c.noisy {
			nb = "on"
		}
		fmt.Fprintf(&b, "| %s | %.3f | %s | %d | %d | %d | %d | %s | %s | %s | %.1f s | %s | %s | %.2f–%.2f |\n",
			c.ratio, c.trueRatio, nb, n, fail, pass, inc, falseFail, falsePass, detect, median(secs), pct(naiveFail), naiveFalse, naive[0], naive[len(naive)-1])
	}
	return b.String()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
