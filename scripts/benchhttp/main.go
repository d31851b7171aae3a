// Command benchhttp drives infergate's endpoint target the way a run
// does, for scripts/bench-http.sh: one closed-loop block against a live
// endpoint, after a warmup, printing key=value lines that the script reads.
//
//	go run ./scripts/benchhttp -url http://127.0.0.1:PORT/v2/models/sum -c 32 -d 10s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/loader"
)

func main() {
	url := flag.String("url", "", "endpoint URL (protocol guessed from it)")
	conc := flag.Int("c", 32, "concurrency")
	dur := flag.Duration("d", 10*time.Second, "measured duration")
	warm := flag.Duration("warmup", time.Second, "warmup duration")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured block here")
	flag.Parse()
	if *url == "" {
		fmt.Fprintln(os.Stderr, "benchhttp: -url is required")
		os.Exit(2)
	}
	ctx := context.Background()
	tgt, err := bench.StartEndpoint(ctx, bench.EndpointConfig{RemoteConfig: bench.RemoteConfig{
		Name: "bench", URL: *url, Concurrency: *conc,
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchhttp:", err)
		os.Exit(1)
	}
	defer tgt.Close()
	// The same request hey and vegeta send: one row of the sum model.
	batch := bench.BlockBatch{Rows: 1, Tensors: []loader.Tensor{{
		Name: "x", DType: loader.Float32, Shape: []int64{1, 4}, Data: []float32{1, 2, 3, 4},
	}}}
	if _, err := tgt.Run(ctx, bench.Block{Batches: []bench.BlockBatch{batch}, Duration: *warm, Concurrency: *conc}); err != nil {
		fmt.Fprintln(os.Stderr, "benchhttp: warmup:", err)
		os.Exit(1)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchhttp:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "benchhttp:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	res, err := tgt.Run(ctx, bench.Block{Duration: *dur, Concurrency: *conc, Record: true})
	wall := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchhttp:", err)
		os.Exit(1)
	}
	h := res.Histogram
	fmt.Printf("requests=%d\nerrors=%d\nseconds=%.3f\nrps=%.1f\n", res.Requests, res.Errors, wall.Seconds(), float64(res.Requests)/wall.Seconds())
	fmt.Printf("p50_us=%.1f\np90_us=%.1f\np99_us=%.1f\n",
		us(h.Quantile(0.5)), us(h.Quantile(0.9)), us(h.Quantile(0.99)))
	if res.Errors > 0 {
		fmt.Printf("first_error=%s\n", res.FirstError)
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
