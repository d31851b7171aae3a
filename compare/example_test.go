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

// target builds a target whose one round recorded n samples of d.
func target(role result.Role, d time.Duration, n int, inferencesPerS float64) result.Target {
	h := result.NewHistogram()
	for range n {
		h.Record(d)
	}
	enc, err := h.Encode()
	if err != nil {
		panic(err)
	}
	return result.Target{
		Role:       role,
		Name:       string(role),
		Latency:    h.Summary(),
		Throughput: result.Throughput{InferencesPerS: inferencesPerS},
		Rounds:     []result.Round{{Index: 0, Requests: int64(n), Histogram: enc}},
	}
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
			target(result.RoleProduction, 2*time.Millisecond, 100, 500),
			target(result.RoleCandidate, 2540*time.Microsecond, 100, 480),
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
	// max-latency-increase: fail: p95 1.27× production (2.54ms vs 2.00ms, threshold 1.15×)
	// min-throughput-ratio: pass: throughput 0.96× production (480 vs 500 inferences/s, threshold ≥ 0.95×)
	// verdict: fail
}
