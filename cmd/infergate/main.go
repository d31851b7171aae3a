// Command infergate gates model performance in CI: it runs a candidate and
// the production model on the same Parquet test set and exits non-zero when
// the candidate regresses.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:])) }
