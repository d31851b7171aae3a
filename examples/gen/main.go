// Command gen writes infergate's example and test assets: the ONNX models
// and Parquet files under examples/ and testdata/. Output is deterministic
// (fixed seeds, no timestamps), so re-running it produces byte-identical
// files; TestGeneratedFilesUpToDate checks the committed copies.
//
// Run from the repository root:
//
//	go run ./examples/gen            # or: go generate ./examples/...
package main

//go:generate go run . -examples .. -testdata ../../testdata

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	examplesDir := flag.String("examples", "examples", "directory for the example models and data")
	testdataDir := flag.String("testdata", "testdata", "directory for the test assets")
	flag.Parse()
	outs, err := generate()
	if err == nil {
		err = writeAll(outs, *examplesDir, *testdataDir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for _, o := range outs {
		fmt.Println(o.path(*examplesDir, *testdataDir))
	}
}
