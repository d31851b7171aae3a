package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/internal/errkind"
)

// Worker processes get their request and reply pipes as these descriptors
// (see bench.StartONNX).
const (
	workerRequestFD = 3
	workerReplyFD   = 4
)

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "worker",
		Short:  "Host one model for a parent infergate process (internal)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return runWorker()
		},
	}
}

func runWorker() error {
	in := os.NewFile(workerRequestFD, "requests")
	out := os.NewFile(workerReplyFD, "replies")
	if in == nil || out == nil {
		return errkind.Input(errors.New("worker: this command is started by infergate itself, not by hand"))
	}
	defer in.Close()
	defer out.Close()
	return errkind.Run(bench.ServeWorker(in, out))
}
