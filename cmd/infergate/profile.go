package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/infergate/infergate/bench"
	"github.com/infergate/infergate/compare"
	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/loader"
	"github.com/infergate/infergate/result"
)

// profileFlags are the operator-profile flags of `run` (--profile).
type profileFlags struct {
	Profile         bool
	ProfileRequests int
}

func (p *profileFlags) registerProfile(fs *pflag.FlagSet) {
	fs.BoolVar(&p.Profile, "profile", false, "after the measured pass, run --profile-requests calls through a second, profiled session of each model (ONNX Runtime's profiler) and report the operators whose time changed most")
	fs.IntVar(&p.ProfileRequests, "profile-requests", 200, "calls each model runs in the --profile pass (the first batches of the test set, one at a time)")
}

// profileConfig is validated --profile.
type profileConfig struct {
	requests int
}

func (p *profileFlags) validateProfile(remote bool) (*profileConfig, error) {
	if !p.Profile {
		return nil, nil
	}
	if remote {
		return nil, errkind.Input(errors.New("--profile needs local ONNX models: an endpoint's runtime cannot be profiled from here"))
	}
	if p.ProfileRequests < 1 {
		return nil, errkind.Input(fmt.Errorf("--profile-requests %d: need at least 1", p.ProfileRequests))
	}
	return &profileConfig{requests: p.ProfileRequests}, nil
}

// applyProfile runs the profiled pass once the measured pass is over, so
// that the profiler's overhead never reaches a measured latency. A profile
// that fails is a warning: it explains a result, it does not judge one.
func (ms *measurement) applyProfile(ctx context.Context, s *session, logf bench.Logf, res *result.Result, err error) (*result.Result, error) {
	if ms.profile == nil || err != nil || res == nil || res.Interrupted || ctx.Err() != nil || len(s.targets) != 2 {
		return res, err
	}
	d, perr := ms.profile.run(ctx, ms, s, logf)
	if perr != nil {
		if ctx.Err() != nil {
			res.Interrupted = true
			return res, nil
		}
		res.Warnings = append(res.Warnings, "--profile: "+perr.Error())
		return res, nil
	}
	d.BatchSize = max(ms.flags.BatchSize, 1)
	res.Profile = d
	return res, nil
}

// run reads the first batches of the test set (in the measured pass's
// order) and profiles both models on them. Targets are production first.
func (c *profileConfig) run(ctx context.Context, ms *measurement, s *session, logf bench.Logf) (*result.ProfileDiff, error) {
	f := ms.flags
	src, err := loader.NewSource(s.ds, s.bindings, loader.SourceOptions{
		BatchSize: f.BatchSize,
		Rows:      f.Rows,
		Shuffle:   f.shuffle,
		Seed:      f.ShuffleSeed,
	})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var batches []*loader.Batch
	for len(batches) < c.requests {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		batches = append(batches, b)
	}
	if len(batches) == 0 {
		return nil, errors.New("the test set yielded no batches")
	}
	logf("profiling %d calls per model", c.requests)
	profiles := make([]bench.Profile, len(s.targets))
	for i, t := range s.targets {
		p, ok := t.(bench.Profiler)
		if !ok {
			return nil, fmt.Errorf("%s model cannot be profiled (only local ONNX models can)", ms.models[i].Role)
		}
		bbs := make([]bench.BlockBatch, len(batches))
		for j, b := range batches {
			bbs[j] = bench.BlockBatch{Rows: b.Rows, Tensors: b.Tensors[i]}
		}
		if profiles[i], err = p.Profile(ctx, bbs, c.requests); err != nil {
			return nil, fmt.Errorf("%s model: %w", ms.models[i].Role, err)
		}
	}
	return compare.ProfileDiff(profiles[0].Nodes, profiles[0].Requests, profiles[1].Nodes, profiles[1].Requests), nil
}
