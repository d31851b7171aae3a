package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/internal/ortprof"
)

// A profiled pass runs a model's calls through a second session of the same
// model, made with ONNX Runtime's session profiling on, after the measured
// pass is over: the profiler's overhead never reaches a measured latency,
// and the measured session is left as it was.

// Profiler is a target that can run a profiled pass.
type Profiler interface {
	// Profile runs requests calls, one at a time, cycling over batches,
	// through a profiled session of the target's model, and returns each
	// graph node's kernel time over them and the calls that succeeded.
	Profile(ctx context.Context, batches []BlockBatch, requests int) (Profile, error)
}

// Profile is a profiled pass's result.
type Profile struct {
	Requests int // successful calls
	Nodes    []ortprof.NodeStat
}

type profileRequest struct {
	NumBatches int // batch messages follow
	Requests   int
}

type profileReply struct {
	Requests int
	Nodes    []ortprof.NodeStat
	Err      *wireError
}

// Profile implements Profiler.
func (t *onnxTarget) Profile(ctx context.Context, batches []BlockBatch, requests int) (Profile, error) {
	if len(batches) == 0 || requests <= 0 {
		return Profile{}, errkind.Input(fmt.Errorf("%s: nothing to profile", t.info.Name))
	}
	var reply profileReply
	err := t.callWithBatches(ctx, wireRequest{Profile: &profileRequest{NumBatches: len(batches), Requests: requests}}, batches, &reply)
	if err != nil {
		return Profile{}, err
	}
	if reply.Err != nil {
		return Profile{}, classify(reply.Err)
	}
	return Profile{Requests: reply.Requests, Nodes: reply.Nodes}, nil
}

// profile is the worker's side: a fresh session with profiling on, the
// calls, and the trace ONNX Runtime writes when the session is destroyed.
func (w *worker) profile(req *profileRequest, wbs []wireBatch) (reply profileReply) {
	if w.session == nil || w.loadReq == nil {
		reply.Err = &wireError{Message: "worker: no model loaded"}
		return reply
	}
	var batches []ortBatch
	defer func() {
		for i := range batches {
			batches[i].destroy()
		}
	}()
	for _, wb := range wbs {
		b, err := newORTBatch(wb)
		if err != nil {
			reply.Err = inputErr("%v", err)
			return reply
		}
		batches = append(batches, b)
	}
	if len(batches) == 0 {
		reply.Err = &wireError{Message: "worker: profile without batches"}
		return reply
	}
	dir, err := os.MkdirTemp("", "infergate-profile-")
	if err != nil {
		reply.Err = &wireError{Message: fmt.Sprintf("profile: %v", err)}
		return reply
	}
	defer os.RemoveAll(dir)

	ok, runErr, err := w.profiledRuns(req.Requests, batches, filepath.Join(dir, "ort"))
	if err != nil {
		reply.Err = &wireError{Message: fmt.Sprintf("profile: %v", oneLine(err))}
		return reply
	}
	if ok == 0 {
		reply.Err = &wireError{Message: fmt.Sprintf("profile: every call failed: %s", runErr)}
		return reply
	}
	files, _ := filepath.Glob(filepath.Join(dir, "ort*.json"))
	if len(files) == 0 {
		reply.Err = &wireError{Message: "profile: ONNX Runtime wrote no profile"}
		return reply
	}
	f, err := os.Open(files[0])
	if err != nil {
		reply.Err = &wireError{Message: fmt.Sprintf("profile: %v", err)}
		return reply
	}
	defer f.Close()
	if reply.Nodes, err = ortprof.Parse(f); err != nil {
		reply.Err = &wireError{Message: err.Error()}
		return reply
	}
	reply.Requests = ok
	return reply
}

// profiledRuns makes the profiled session, runs the calls and destroys the
// session, which is when ONNX Runtime writes the trace (the Go binding has
// no EndProfiling). It returns the calls that succeeded and the first
// failure's message.
func (w *worker) profiledRuns(requests int, batches []ortBatch, prefix string) (ok int, runErr string, err error) {
	ins, outs, err := ort.GetInputOutputInfo(w.loadReq.ModelPath)
	if err != nil {
		return 0, "", err
	}
	inNames := make([]string, len(ins))
	for i, in := range ins {
		inNames[i] = in.Name
	}
	outNames := make([]string, len(outs))
	for i, out := range outs {
		outNames[i] = out.Name
	}
	opts, err := sessionOptions(w.loadReq)
	if err != nil {
		return 0, "", err
	}
	defer opts.Destroy()
	if err := opts.EnableProfiling(prefix); err != nil {
		return 0, "", err
	}
	s, err := ort.NewDynamicAdvancedSession(w.loadReq.ModelPath, inNames, outNames, opts)
	if err != nil {
		return 0, "", err
	}
	outputs := make([]ort.Value, len(outNames))
	for i := range requests {
		clear(outputs)
		err := s.Run(batches[i%len(batches)].values, outputs)
		for _, o := range outputs {
			if o != nil {
				_ = o.Destroy()
			}
		}
		if err != nil {
			if runErr == "" {
				runErr = oneLine(err)
			}
			continue
		}
		ok++
	}
	if err := s.Destroy(); err != nil {
		return ok, runErr, err
	}
	return ok, runErr, nil
}
