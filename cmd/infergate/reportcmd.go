package main

import (
	"github.com/spf13/cobra"
)

// reportOptions are the flags of `infergate report`.
type reportOptions struct {
	outputFlags
	Input string
}

func newReportCmd(e *env) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report RESULT.json [--markdown F] [--junit F] [--html F] [--openmetrics F] [--json F]",
		Short: "Re-render a saved result: the table on stdout, other formats to files",
		Long: `report renders a result document written by run, bench, calibrate, compare
or merge: the table on stdout, and each format asked for to its file. It
only renders: it exits 0 whatever the saved verdict, and 2 when the file
is not a result this infergate can read.`,
		Example: `  infergate report result.json --markdown report.md --junit junit.xml
  infergate report result.json --html report.html --openmetrics metrics.prom
  infergate report result.json    # the table on stdout only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Input = args[0]
			return runReport(e, o)
		},
	}
	o.register(cmd.Flags())
	return cmd
}

// runReport is `infergate report` without cobra.
func runReport(e *env, o *reportOptions) error {
	if err := o.validate(); err != nil {
		return err
	}
	res, err := readResultFile(o.Input)
	if err != nil {
		return err
	}
	return writeReports(e, res, o.outputFlags)
}
