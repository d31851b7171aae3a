// Command kservetestd runs the kservetest inference server until it is
// interrupted, for load tools that need a live endpoint (scripts/bench-http.sh).
// It prints one line per side, "rest URL" and "grpc URL", once listening.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/infergate/infergate/internal/kservetest"
)

func main() {
	var opts kservetest.Options
	flag.StringVar(&opts.RESTAddr, "addr", "127.0.0.1:0", "REST listen address")
	flag.StringVar(&opts.GRPCAddr, "grpc-addr", "127.0.0.1:0", "gRPC listen address")
	flag.DurationVar(&opts.Faults.Latency, "latency", 0, "latency added to every inference request")
	flag.BoolVar(&opts.PreciseLatency, "precise", false, "spin through the end of -latency for microsecond accuracy (low concurrency only)")
	flag.BoolVar(&opts.TFServing, "tfserving", false, "serve TensorFlow Serving's REST API instead of KServe v2")
	flag.Parse()

	s, err := kservetest.Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kservetestd:", err)
		os.Exit(1)
	}
	fmt.Printf("rest %s\ngrpc %s\n", s.ModelURL(), s.GRPCURL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Close()
}
