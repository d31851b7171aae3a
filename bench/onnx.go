package bench

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/infergate/infergate/internal/errkind"
	"github.com/infergate/infergate/result"
)

// ONNXConfig says how to run a local ONNX model.
type ONNXConfig struct {
	Name      string // "production", "candidate" or the model's name
	ModelPath string
	// LibPath is the ONNX Runtime shared library the worker loads.
	LibPath string
	Device  string // "cpu", "cuda:N", "tensorrt:N" (see ParseDevice)
	// ProviderOptions are the GPU execution provider's options, as in
	// --provider-option (device_id comes from Device).
	ProviderOptions   map[string]string
	IntraOpThreads    int    // 0: ONNX Runtime's default
	InterOpThreads    int    // 0: ONNX Runtime's default
	GraphOptimization string // disable, basic, extended, all (default)
	// MaxMemory, when positive, caps the worker's resident memory: a
	// worker above it is killed, and the target fails saying so.
	MaxMemory int64
	// CallTimeout bounds every request to the worker (loading the model, a
	// block); 0 means DefaultWorkerTimeout. A worker that does not answer
	// in time is killed.
	CallTimeout time.Duration
	// Worker is the command that starts a worker process: the infergate
	// binary with its hidden "worker" subcommand, or a test binary that
	// serves as one.
	Worker WorkerCommand
}

// WorkerCommand is how to start a worker process.
type WorkerCommand struct {
	Path string
	Args []string
	// Env is the worker's environment; nil inherits the parent's.
	Env []string
}

// DefaultWorkerTimeout bounds each request to a worker: long enough for a
// large model to load, short enough that a hung model does not hold a CI
// job until its own timeout.
const DefaultWorkerTimeout = 10 * time.Minute

// memoryPollInterval is how often the parent reads a capped worker's RSS.
const memoryPollInterval = 20 * time.Millisecond

// onnxTarget hosts a model in a worker process of its own, so its memory is
// its own and a crash in the model fails the target, not the run.
type onnxTarget struct {
	info      TargetInfo
	timeout   time.Duration
	maxMemory int64
	// overMemory is the RSS at which the memory watchdog killed the
	// worker; 0 while it has not.
	overMemory atomic.Int64
	cmd        *exec.Cmd
	reqW       io.WriteCloser
	enc        *gob.Encoder
	dec        *gob.Decoder
	stderr     *tailBuffer
	done       chan struct{} // closed when the worker has exited
	waitErr    error
	closeOnce  sync.Once
}

// StartONNX starts a worker and loads the model into it. Errors in the
// model or the library are input errors; a worker that dies is a run error.
func StartONNX(ctx context.Context, cfg ONNXConfig) (Target, error) {
	if err := checkReadable("model", cfg.ModelPath); err != nil {
		return nil, err
	}
	if err := checkReadable("ONNX Runtime library", cfg.LibPath); err != nil {
		return nil, err
	}
	if cfg.Worker.Path == "" {
		return nil, errors.New("bench: no worker command configured")
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, errkind.Run(fmt.Errorf("start worker: %w", err))
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, errkind.Run(fmt.Errorf("start worker: %w", err))
	}
	t := &onnxTarget{
		stderr:    &tailBuffer{max: 4096},
		done:      make(chan struct{}),
		timeout:   cfg.CallTimeout,
		maxMemory: cfg.MaxMemory,
		// Named from the start, so that a death while loading says whose.
		info: TargetInfo{Name: cfg.Name},
	}
	if t.timeout <= 0 {
		t.timeout = DefaultWorkerTimeout
	}
	cmd := exec.Command(cfg.Worker.Path, cfg.Worker.Args...)
	cmd.Env = cfg.Worker.Env
	cmd.ExtraFiles = []*os.File{reqR, repW} // fd 3, fd 4
	cmd.Stdout = t.stderr                   // a native library may print; keep it out of ours
	cmd.Stderr = t.stderr
	// A worker never outlives its parent.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		reqR.Close()
		reqW.Close()
		repR.Close()
		repW.Close()
		return nil, errkind.Run(fmt.Errorf("start worker for %s: %w", cfg.Name, err))
	}
	// The child holds its own copies now.
	reqR.Close()
	repW.Close()
	t.cmd = cmd
	t.reqW = reqW
	t.enc = gob.NewEncoder(reqW)
	t.dec = gob.NewDecoder(repR)
	go func() {
		t.waitErr = cmd.Wait()
		repR.Close()
		close(t.done)
	}()
	preferForOOMKill(cmd.Process.Pid)
	if t.maxMemory > 0 {
		go t.watchMemory()
	}

	var reply loadReply
	load := wireRequest{Load: &loadRequest{
		LibPath:           cfg.LibPath,
		ModelPath:         cfg.ModelPath,
		Device:            cfg.Device,
		ProviderOptions:   cfg.ProviderOptions,
		IntraOpThreads:    cfg.IntraOpThreads,
		InterOpThreads:    cfg.InterOpThreads,
		GraphOptimization: cfg.GraphOptimization,
	}}
	if err := t.call(ctx, func(enc *gob.Encoder) error { return enc.Encode(load) }, &reply); err != nil {
		t.Close()
		return nil, err
	}
	if reply.Err != nil {
		t.Close()
		return nil, classify(reply.Err)
	}
	t.info = TargetInfo{
		Name:         cfg.Name,
		Kind:         "onnx",
		Model:        cfg.ModelPath,
		ModelVersion: reply.ModelVersion,
		Inputs:       reply.Inputs,
		Outputs:      reply.Outputs,
		OutputShapes: reply.OutputShapes,
		ORTVersion:   reply.ORTVersion,
		LoadRSSBytes: reply.LoadRSSBytes,
		PID:          cmd.Process.Pid,
	}
	return t, nil
}

func classify(e *wireError) error {
	if e.Input {
		return errkind.Input(e)
	}
	return errkind.Run(e)
}

func checkReadable(what, path string) error {
	if path == "" {
		return errkind.Input(fmt.Errorf("no %s given", what))
	}
	f, err := os.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return errkind.Input(fmt.Errorf("%s %s: no such file", what, path))
		case errors.Is(err, os.ErrPermission):
			return errkind.Input(fmt.Errorf("%s %s: permission denied", what, path))
		}
		return errkind.Input(fmt.Errorf("%s %s: %v", what, path, err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		return errkind.Input(fmt.Errorf("%s %s is a directory, not a file", what, path))
	}
	return nil
}

func (t *onnxTarget) Info() TargetInfo { return t.info }

func (t *onnxTarget) Run(ctx context.Context, blk Block) (BlockResult, error) {
	var reply blockReply
	err := t.callWithBatches(ctx, wireRequest{Block: &blockRequest{
		NumBatches:  len(blk.Batches),
		Offset:      blk.Offset,
		Accumulate:  blk.Accumulate,
		Requests:    blk.Requests,
		Duration:    blk.Duration,
		Concurrency: blk.Concurrency,
		Record:      blk.Record,
		ResetPeak:   blk.ResetPeak,
		SizeBuckets: blk.SizeBuckets,
	}}, blk.Batches, &reply)
	if err != nil {
		return BlockResult{}, err
	}
	if reply.Err != nil {
		return BlockResult{}, classify(reply.Err)
	}
	res := BlockResult{
		Requests:      reply.Requests,
		Rows:          reply.Rows,
		Errors:        reply.Errors,
		ErrorsByKind:  reply.ErrorsByKind,
		ErrorsByClass: reply.ErrorsByClass,
		ErrorExamples: reply.ErrorExamples,
		FirstError:    reply.FirstError,
		Elapsed:       time.Duration(reply.ElapsedNS),
		PeakRSSBytes:  reply.PeakRSSBytes,
		Primed:        reply.Primed,
	}
	if reply.Histogram != "" {
		h, err := result.DecodeHistogram(reply.Histogram)
		if err != nil {
			return BlockResult{}, errkind.Run(fmt.Errorf("%s: %w", t.info.Name, err))
		}
		res.Histogram = h
	}
	if res.SizeBuckets, err = decodeSizeBuckets(reply.SizeBuckets); err != nil {
		return BlockResult{}, errkind.Run(fmt.Errorf("%s: %w", t.info.Name, err))
	}
	return res, nil
}

// callWithBatches sends head followed by the batches, one message each
// (so neither side holds a whole block's encoding), and waits for the
// reply. The batches are turned into views of the tensors' memory before
// anything is sent, so a bad batch cannot leave the worker waiting
// mid-request.
func (t *onnxTarget) callWithBatches(ctx context.Context, head wireRequest, batches []BlockBatch, reply any) error {
	wbs := make([]wireBatch, len(batches))
	for i, b := range batches {
		wb, err := toWireBatch(b)
		if err != nil {
			return errkind.Input(err)
		}
		wbs[i] = wb
	}
	return t.call(ctx, func(enc *gob.Encoder) error {
		if err := enc.Encode(head); err != nil {
			return err
		}
		for i := range wbs {
			if err := enc.Encode(wireRequest{Batch: &wbs[i]}); err != nil {
				return err
			}
		}
		return nil
	}, reply)
}

// call sends one request and waits for its reply, the worker's exit, or
// the context, whichever comes first. On cancellation the worker is
// killed: a block in flight cannot be stopped any other way.
func (t *onnxTarget) call(ctx context.Context, send func(*gob.Encoder) error, reply any) error {
	timer := time.NewTimer(t.timeout)
	defer timer.Stop()
	errc := make(chan error, 1)
	go func() {
		if err := send(t.enc); err != nil {
			errc <- err
			return
		}
		errc <- t.dec.Decode(reply)
	}()
	select {
	case err := <-errc:
		if err == nil {
			return nil
		}
		// The pipe broke: the worker most likely died. Wait briefly for its
		// exit status, which says why.
		select {
		case <-t.done:
		case <-time.After(2 * time.Second):
		}
		return errkind.Run(t.deathError(err))
	case <-ctx.Done():
		t.kill()
		return ctx.Err()
	case <-timer.C:
		t.kill()
		return errkind.Run(fmt.Errorf("worker for %s did not answer within %v (a hung model?); killed it", t.name(), t.timeout))
	}
}

// watchMemory kills the worker when its resident set passes the cap. A
// poll cannot stop an allocation in its tracks, so the cap can be
// overshot by what one poll interval allows; the kernel's OOM killer,
// which prefers workers (preferForOOMKill), is the backstop.
func (t *onnxTarget) watchMemory() {
	tick := time.NewTicker(memoryPollInterval)
	defer tick.Stop()
	pid := t.cmd.Process.Pid
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
			if rss := processRSS(pid); rss > t.maxMemory {
				t.overMemory.Store(rss)
				t.kill()
				return
			}
		}
	}
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func (t *onnxTarget) name() string {
	if t.info.Name == "" {
		return "model"
	}
	return t.info.Name
}

func (t *onnxTarget) deathError(ioErr error) error {
	name := t.name()
	if rss := t.overMemory.Load(); rss > 0 {
		return fmt.Errorf("worker for %s passed --max-memory %s (resident %s) and was killed", name, mib(t.maxMemory), mib(rss))
	}
	var why string
	select {
	case <-t.done:
		why = exitReason(t.waitErr)
	default:
		why = fmt.Sprintf("stopped answering (%v)", ioErr)
	}
	msg := fmt.Sprintf("worker for %s died: %s", name, why)
	if tail := t.stderr.lastLine(); tail != "" {
		msg += ": " + tail
	}
	return errors.New(msg)
}

// exitReason says how a worker ended, naming its signal. SIGKILL that
// infergate did not send is most often the kernel's OOM killer.
func exitReason(waitErr error) string {
	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) {
		if waitErr != nil {
			return waitErr.Error()
		}
		return "exited"
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		return "killed by SIGKILL (the kernel's OOM killer does this when memory runs out: see dmesg, or cap the worker with --max-memory)"
	case ok && ws.Signaled():
		return fmt.Sprintf("killed by %s (%s)", signalName(ws.Signal()), ws.Signal())
	}
	return exit.Error() // e.g. "exit status 139"
}

func signalName(sig syscall.Signal) string {
	names := map[syscall.Signal]string{
		syscall.SIGSEGV: "SIGSEGV", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS",
		syscall.SIGILL: "SIGILL", syscall.SIGFPE: "SIGFPE", syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT",
	}
	if n, ok := names[sig]; ok {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}

func (t *onnxTarget) kill() {
	if t.cmd != nil && t.cmd.Process != nil {
		_ = t.cmd.Process.Kill()
	}
}

// Close ends the worker: closing its request pipe lets it exit cleanly;
// one that does not within a few seconds is killed.
func (t *onnxTarget) Close() error {
	t.closeOnce.Do(func() {
		_ = t.reqW.Close()
		select {
		case <-t.done:
		case <-time.After(5 * time.Second):
			t.kill()
			<-t.done
		}
	})
	return nil
}

// tailBuffer keeps the last bytes a worker wrote on stdout and stderr.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) lastLine() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(b.buf, nil))), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}
