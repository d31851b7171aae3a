package compare_test

import (
	"fmt"
	"time"

	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/result"
)

func ExampleParseQuantile() {
	for _, s := range []string{"p95", "99.9", "0.5", "p100"} {
		q, err := compare.ParseQuantile(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(s, "→", q, compare.LatencyMetric(q))
	}
	// Output:
	// p95 → 0.95 latency_p95
	// 99.9 → 0.999 latency_p99.9
	// 0.5 → 0.5 latency_p50
	// error: percentile "p100": want a percentile between 0 and 100 exclusive, e.g. p95, p99.9 or 0.95
}

// machine is the slowdown a shared CI machine imposed on each of 8 rounds;
// both targets see it, since they ran back to back in each round.
var machine = []float64{1.00, 1.12, 0.95, 1.30, 1.02, 0.97, 1.21, 1.05}

// target builds a target of one round per drift factor, n samples each,
// spread ±10% around d times the round's factor.
func target(role result.Role, d time.Duration, n int, perCallBusy time.Duration, drift []float64) result.Target {
	t := result.Target{Role: role, Name: string(role)}
	all := result.NewHistogram()
	for i, f := range drift {
		h := result.NewHistogram()
		for j := range n {
			spread := 0.9 + 0.2*float64(j)/float64(n-1)
			h.Record(time.Duration(float64(d) * f * spread))
		}
		enc, err := h.Encode()
		if err != nil {
			panic(err)
		}
		all.Merge(h)
		t.Rounds = append(t.Rounds, result.Round{Index: i, Requests: int64(n),
			ElapsedNS: int64(float64(n) * float64(perCallBusy) * f), Histogram: enc})
	}
	t.Latency = all.Summary()
	return t
}

func ExampleJudge() {
	// Thresholds are validated before anything runs.
	latency, _ := compare.ParseRatio("max-latency-increase", "1.15")
	throughput, _ := compare.ParseRatio("min-throughput-ratio", "95%")
	specs, err := compare.NewSpecs(compare.Thresholds{
		MaxLatencyIncrease: latency,
		MinThroughputRatio: throughput,
	}, compare.ModePair)
	if err != nil {
		fmt.Println(err)
		return
	}

	// ... the run measures both models ...
	r := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Targets: []result.Target{
			target(result.RoleProduction, 2*time.Millisecond, 100, 2*time.Millisecond, machine),
			target(result.RoleCandidate, 2540*time.Microsecond, 100, 2083*time.Microsecond, machine),
		},
	}

	checks, verdict, err := compare.Judge(r, specs)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range checks {
		fmt.Printf("%s: %s: %s\n", c.Name, c.Outcome, c.Message)
	}
	fmt.Println("verdict:", verdict)
	// Output:
	// max-latency-increase: fail: p95 1.27× production (3.38ms vs 2.66ms, threshold 1.15×)
	// min-throughput-ratio: pass: throughput 0.96× production (446 vs 464 inferences/s, threshold ≥ 0.95×)
	// verdict: fail
}

func ExampleJudgeWith() {
	specs, err := compare.NewSpecs(compare.Thresholds{
		MaxLatencyIncrease: 1.15,
		MaxP99Increase:     1.02, // finer than 8 rounds can resolve
	}, compare.ModePair)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Besides the machine's drift, each candidate round has its own few
	// percent of noise, which pairing cannot remove.
	own := []float64{1.03, 0.96, 1.05, 0.98, 1.01, 0.97, 1.04, 0.99}
	cand := make([]float64, len(machine))
	for i := range machine {
		cand[i] = machine[i] * own[i]
	}
	r := &result.Result{
		SchemaVersion: result.SchemaVersion,
		Targets: []result.Target{
			target(result.RoleProduction, 2*time.Millisecond, 100, 2*time.Millisecond, machine),
			target(result.RoleCandidate, 2*time.Millisecond, 100, 2*time.Millisecond, cand),
		},
	}

	opts := compare.DefaultOptions()
	j, err := compare.JudgeWith(r, specs, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range j.Checks {
		fmt.Printf("%s: %s %.3f [%.3f, %.3f] at %.2f%% one-sided over %d rounds, %d samples\n",
			c.Name, c.Outcome, c.Ratio, c.Lower, c.Upper, 100*c.Confidence, c.Rounds, c.Samples)
		fmt.Println("  method:", c.Method)
	}
	fmt.Printf("verdict: %s, decided: %v, detectable change: %.3f\n", j.Verdict, j.Decided, j.DetectableChange)
	for _, w := range j.Warnings {
		fmt.Println("warning:", w)
	}
	// Output:
	// max-latency-increase: pass 1.010 [0.962, 1.040] at 97.50% one-sided over 8 rounds, 1600 samples
	//   method: paired block bootstrap over 8 rounds, 2000 resamples, 97.5% one-sided (95% family-wise: Holm over 2 checks)
	// max-p99-increase: inconclusive 0.982 [0.960, 1.040] at 97.50% one-sided over 8 rounds, 1600 samples
	//   method: paired block bootstrap over 8 rounds, 2000 resamples, 97.5% one-sided (95% family-wise: Holm over 2 checks)
	// verdict: inconclusive, decided: false, detectable change: 1.039
	// warning: max-p99-increase: threshold 1.02× is below what this run can resolve (±4.1%); run longer or raise it
}
